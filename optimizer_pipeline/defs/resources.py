"""The one place that binds resources to configuration (``OPTIMIZER_*`` environment variables).

Unset variables fall back to the embedded default: the sample corpus, the sample registry and a home directory in
``$DAGSTER_HOME`` (or ``./.dagster_home``), so ``dagster dev`` works with no keys and no network. Secrets are only
ever passed as ``EnvVar`` references, never read into code, logs or metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from optimizer_pipeline.lib.registry.checks import SourceCatalog
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE
from optimizer_pipeline.lib.sample.design import SAMPLE_HASHTAGS
from optimizer_pipeline.resources.ads import AdInbox, MetaAdsSource
from optimizer_pipeline.resources.alerts import AlertNotifier
from optimizer_pipeline.resources.budgets import BudgetExecutor
from optimizer_pipeline.resources.features import (
    AnthropicCreativeLabeler,
    CreativeLabeler,
    FeatureStore,
    RuleLabeler,
)
from optimizer_pipeline.resources.inbox import ConversionInbox
from optimizer_pipeline.resources.influencer_status import InfluencerStatusLog
from optimizer_pipeline.resources.insights import AnthropicWinnerInsights, WinnerInsights
from optimizer_pipeline.resources.models import ModelStore
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.pii import PiiVault
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline.resources.tiktok import (
    ApifyTikTokSource,
    ReplayTikTokSource,
    SampleTikTokSource,
    TikTokSource,
)
from optimizer_pipeline.resources.videos import VideoStore

TIKTOK_SOURCES = ("sample", "replay", "apify")


def default_home() -> str:
    """Where data lives when ``OPTIMIZER_HOME`` is unset: next to the Dagster instance."""
    return os.environ.get("DAGSTER_HOME") or str(Path.cwd() / ".dagster_home")


def data_home() -> Path:
    """The data home for code outside a run (the CLI): ``$OPTIMIZER_HOME``, else :func:`default_home`."""
    return Path(os.environ.get("OPTIMIZER_HOME") or default_home())


def clients_file() -> Path:
    """The registry file: ``$OPTIMIZER_CLIENTS_FILE``, else the sample registry shipped with the package."""
    return Path(os.environ.get("OPTIMIZER_CLIENTS_FILE") or SAMPLE_CLIENTS_FILE)


def _setting(name: str, default: Any) -> Any:
    """An ``EnvVar`` reference when the variable is set (shown as such in the UI), else the default."""
    if name not in os.environ:
        return default
    if isinstance(default, bool):
        raise TypeError("boolean settings are not supported")
    if isinstance(default, int):
        return dg.EnvVar.int(name)
    if isinstance(default, float):
        return float(os.environ[name])  # EnvVar has no float form; not a secret
    return dg.EnvVar(name)


def _configured(resource: type[dg.ConfigurableResource], **variables: str) -> dict[str, Any]:
    """Field → value for each field whose variable is set; an unset one keeps the default its resource class
    declares (the one home of every default)."""
    fields = resource.model_fields
    return {field: _setting(name, fields[field].default) for field, name in variables.items() if name in os.environ}


def tiktok_source_kind() -> str:
    """The TikTok source named by ``OPTIMIZER_TIKTOK_SOURCE`` (default ``sample``), lower-case, not validated."""
    return os.environ.get("OPTIMIZER_TIKTOK_SOURCE", "sample").strip().lower()


def tiktok_source_catalog() -> SourceCatalog:
    """What the active source can deliver, for ``registry sync`` and the registry sensor: the sample corpus has
    :data:`SAMPLE_HASHTAGS` (and a seeded profile for any competitor handle); replay and Apify are not listed."""
    kind = tiktok_source_kind()
    return SourceCatalog(kind, hashtags=frozenset(SAMPLE_HASHTAGS)) if kind == "sample" else SourceCatalog(kind)


def tiktok_source(home: Any) -> TikTokSource:
    """Choose the TikTok source named by ``OPTIMIZER_TIKTOK_SOURCE`` (sample | replay | apify)."""
    kind = tiktok_source_kind()
    if kind == "apify":
        return ApifyTikTokSource(
            token=dg.EnvVar("OPTIMIZER_APIFY_TOKEN"),
            **_configured(ApifyTikTokSource, actor_id="OPTIMIZER_APIFY_ACTOR", api_url="OPTIMIZER_APIFY_API_URL"),
        )
    if kind == "replay":
        return ReplayTikTokSource(folder=dg.EnvVar("OPTIMIZER_REPLAY_DIR"))
    if kind == "sample":
        return SampleTikTokSource(
            home=home,
            **_configured(SampleTikTokSource, seed="OPTIMIZER_SAMPLE_SEED", scale="OPTIMIZER_SAMPLE_SCALE"),
        )
    raise ValueError(f"OPTIMIZER_TIKTOK_SOURCE={kind!r} is not one of {', '.join(TIKTOK_SOURCES)}")


def creative_labeler() -> CreativeLabeler:
    """Anthropic labels when ``OPTIMIZER_ANTHROPIC_API_KEY`` is set, rule-based labels otherwise."""
    if os.environ.get("OPTIMIZER_ANTHROPIC_API_KEY"):
        return AnthropicCreativeLabeler(
            api_key=dg.EnvVar("OPTIMIZER_ANTHROPIC_API_KEY"),
            **_configured(
                AnthropicCreativeLabeler, model="OPTIMIZER_ANTHROPIC_MODEL", base_url="OPTIMIZER_ANTHROPIC_BASE_URL"
            ),
        )
    return RuleLabeler()


def winner_insights_writer() -> WinnerInsights:
    """Claude writes the winner insights when ``OPTIMIZER_ANTHROPIC_API_KEY`` is set (same key, model and URL
    variables as the labeler; its text is kept only when every number is in the evidence), the deterministic
    winner-vs-loser text otherwise."""
    if os.environ.get("OPTIMIZER_ANTHROPIC_API_KEY"):
        return AnthropicWinnerInsights(
            api_key=dg.EnvVar("OPTIMIZER_ANTHROPIC_API_KEY"),
            **_configured(
                AnthropicWinnerInsights, model="OPTIMIZER_ANTHROPIC_MODEL", base_url="OPTIMIZER_ANTHROPIC_BASE_URL"
            ),
        )
    return WinnerInsights()


def build_resources(home: str | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Resource key → configured resource, from the current environment; ``home`` (instead of ``$OPTIMIZER_HOME``)
    and ``overrides`` (resource key → resource) let the demo bind its own home without touching the environment."""
    home = home if home is not None else _setting("OPTIMIZER_HOME", default_home())
    return {
        "io_manager": ParquetIOManager(home=home),
        "registry": ClientRegistry(path=_setting("OPTIMIZER_CLIENTS_FILE", str(SAMPLE_CLIENTS_FILE))),
        "tiktok": tiktok_source(home),
        "video_store": VideoStore(
            home=home,
            **_configured(
                VideoStore,
                retention_days="OPTIMIZER_VIDEO_RETENTION_DAYS",
                max_megabytes="OPTIMIZER_VIDEO_MAX_MB",
                timeout_s="OPTIMIZER_VIDEO_TIMEOUT_S",
            ),
        ),
        "feature_store": FeatureStore(home=home, **_configured(FeatureStore, workers="OPTIMIZER_FEATURE_WORKERS")),
        "labeler": creative_labeler(),
        "insights": winner_insights_writer(),
        "model_store": ModelStore(home=home),
        "pii": PiiVault(home=home, **_configured(PiiVault, key="OPTIMIZER_PII_KEY")),
        "inbox": ConversionInbox(
            home=home,
            **_configured(ConversionInbox, root="OPTIMIZER_INBOX_DIR", settle_seconds="OPTIMIZER_INBOX_SETTLE_SECONDS"),
        ),
        "status_log": InfluencerStatusLog(home=home),
        "ad_inbox": AdInbox(
            home=home,
            **_configured(AdInbox, root="OPTIMIZER_AD_INBOX_DIR", settle_seconds="OPTIMIZER_AD_INBOX_SETTLE_SECONDS"),
        ),
        "meta_ads": MetaAdsSource(
            **_configured(
                MetaAdsSource,
                access_token="OPTIMIZER_META_ACCESS_TOKEN",
                app_secret="OPTIMIZER_META_APP_SECRET",
                graph_url="OPTIMIZER_META_GRAPH_URL",
                api_version="OPTIMIZER_META_API_VERSION",
            )
        ),
        "notifier": AlertNotifier(**_configured(AlertNotifier, webhook_url="OPTIMIZER_ALERT_WEBHOOK_URL")),
        "executor": BudgetExecutor(
            home=home,
            **_configured(BudgetExecutor, mode="OPTIMIZER_BUDGET_MODE", daily_ceiling="OPTIMIZER_BUDGET_DAILY_CEILING"),
        ),
        **(overrides or {}),
    }
