"""Plots for asset metadata: PNGs embedded in Markdown, so the Dagster UI shows them inline."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd


def feature_distributions_png(df: pd.DataFrame, columns: Sequence[str], *, by: str | None = None) -> bytes:
    """Small-multiple histograms of ``columns`` (split by ``by``, e.g. performance tier, when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [c for c in columns if c in df.columns]
    n = max(1, len(cols))
    ncols = min(4, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    groups = list(df.groupby(by)) if by and by in df.columns and len(df) else [("all", df)]
    for ax, col in zip(axes.flat, cols, strict=False):
        bins = _shared_bins(pd.to_numeric(df[col], errors="coerce"))
        for name, part in groups:
            values = pd.to_numeric(part[col], errors="coerce").dropna()
            if len(values):
                ax.hist(values, bins=bins, alpha=0.55, label=str(name))
        ax.set_title(col, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(cols) :]:
        ax.axis("off")
    if len(groups) > 1:
        axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def _shared_bins(values: pd.Series, n: int = 12) -> np.ndarray:
    """The same bin edges for every group of a column; a column that is (numerically) constant gets one bin
    around its value instead of numpy's "too many bins" error."""
    finite = values[np.isfinite(values)]
    if finite.empty:
        return np.array([0.0, 1.0])
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo <= 1e-9 * max(1.0, abs(hi)):
        return np.array([lo - 0.5, hi + 0.5])
    return np.linspace(lo, hi, n + 1)


def markdown_image(png: bytes, alt: str = "plot") -> str:
    """A Markdown image with the PNG inlined as a data URI."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def posterior_intervals_png(
    table: pd.DataFrame, *, truth: dict[str, float] | None = None, max_rows: int = 30, label_chars: int = 60
) -> bytes:
    """Posterior mean and 95 % credible interval per pattern (``pattern_hash, mean, ci_low, ci_high``), best mean on
    top; ``truth`` (pattern → planted rate) adds the known answer as a cross, for the sample data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    view = table.sort_values("mean", ascending=False, kind="stable").head(max_rows).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8.5, 0.32 * max(len(view), 3) + 1.0))
    y = np.arange(len(view))
    if len(view):
        mean = view["mean"].to_numpy(dtype=float)
        # a very skewed Beta (e.g. the weak prior of a pattern with no data) can have its mean outside the
        # equal-tailed interval: clip the bar lengths at 0 rather than fail
        low, high = view["ci_low"].to_numpy(dtype=float), view["ci_high"].to_numpy(dtype=float)
        err = np.clip(np.vstack([mean - low, high - mean]), 0.0, None)
        ax.errorbar(mean, y, xerr=err, fmt="o", ms=4, capsize=2, label="posterior mean, 95 % CI")
        if truth:
            planted = view["pattern_hash"].map(truth).to_numpy(dtype=float)
            ax.plot(planted, y, "x", color="crimson", label="planted rate")
        ax.legend(fontsize=7, loc="lower right")
    labels = [str(h) if len(str(h)) <= label_chars else str(h)[: label_chars - 1] + "…" for h in view["pattern_hash"]]
    ax.set_yticks(y, labels, fontsize=6)
    ax.set_xlabel("conversion rate (conversions / clicks)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
