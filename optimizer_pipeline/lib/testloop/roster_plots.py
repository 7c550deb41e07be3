"""Plots of the test loop's set-up for asset metadata: who passes the influencer filter, and how the links are
spread over patterns and statuses (PNG bytes; embed with ``plots.markdown_image``)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from optimizer_pipeline.lib.registry.testloop_settings import TestLoopSettings
from optimizer_pipeline.lib.testloop.influencer_status import STATUSES


def _figure(width: float, height: float) -> tuple[Any, Any, Any]:
    """(pyplot, figure, axes); matplotlib is imported on first use only, with the non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(width, height))


def _png(plt: Any, fig: Any) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def eligibility_png(roster: pd.DataFrame, settings: TestLoopSettings) -> bytes:
    """Followers (log scale) vs engagement rate, eligible vs not, with the filter's box drawn."""
    plt, fig, ax = _figure(6.0, 4.0)
    for eligible, colour, label in ((True, "tab:green", "eligible"), (False, "tab:grey", "not eligible")):
        part = roster[roster["eligible"] == eligible]
        ax.scatter(part["followers"].clip(lower=1), part["engagement_rate"] * 100, s=18, c=colour, label=label)
    ax.set_xscale("log")
    ax.axvspan(max(settings.min_followers, 1), max(settings.max_followers, 1), color="tab:green", alpha=0.08)
    ax.axhline(
        settings.min_engagement_rate * 100,
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label=f"ER > {settings.min_engagement_rate:.1%}",
    )
    ax.set_xlabel("followers")
    ax.set_ylabel("engagement rate (%)")
    ax.legend(fontsize=7)
    return _png(plt, fig)


def assignments_png(traffic: pd.DataFrame) -> bytes:
    """Assignments per pattern, stacked by status: the balance of the test at a glance."""
    plt, fig, ax = _figure(7.0, 0.35 * max(4, traffic["pattern_hash"].nunique()) + 1.2)
    counts = traffic.groupby(["pattern_hash", "status"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=[s for s in STATUSES if s in counts.columns])
    left = pd.Series(0, index=counts.index)
    for status in counts.columns:
        ax.barh(counts.index, counts[status], left=left, label=status)
        left = left + counts[status]
    ax.set_xlabel("influencer × creative assignments")
    ax.tick_params(axis="y", labelsize=6)
    ax.legend(fontsize=7)
    return _png(plt, fig)
