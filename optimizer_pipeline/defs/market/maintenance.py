"""Scheduled clean-up of the video file cache (files unused for longer than the retention period)."""

import dagster as dg

from optimizer_pipeline.resources.videos import VideoStore


@dg.op(description="Deletes cached video files older than the retention period and dangling index entries.")
def clean_video_cache(context: dg.OpExecutionContext, video_store: VideoStore) -> dg.Output[None]:
    report = video_store.cache().cleanup(video_store.retention_days)
    context.log.info(f"video cache cleanup: {report}")
    return dg.Output(
        None,
        metadata={
            "removed_objects": report.removed_objects,
            "removed_bytes": report.removed_bytes,
            "removed_index": report.removed_index,
            "kept": report.kept,
            "retention_days": video_store.retention_days,
        },
    )


@dg.job(description="Removes video files unused for longer than the retention period (default 7 days).")
def video_cache_cleanup_job() -> None:
    clean_video_cache()


video_cache_cleanup_schedule = dg.ScheduleDefinition(
    name="video_cache_cleanup_schedule",
    job=video_cache_cleanup_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
