"""optimizer-pipeline: which short-video creative patterns win, found with honest statistics.

Importing the package has no side effects and does not import Dagster; the code location lives in
``optimizer_pipeline.definitions``.
"""

__version__ = "0.1.0"

__all__ = ["extract_video_features"]


def __getattr__(name: str):
    if name == "extract_video_features":
        from optimizer_pipeline.lib.features import extract_video_features

        return extract_video_features
    raise AttributeError(f"module 'optimizer_pipeline' has no attribute {name!r}")
