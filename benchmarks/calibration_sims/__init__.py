"""Simulations behind ``benchmarks/calibration.py``: one module per figure, each with ``measure(quick) -> dict``.

Every module returns ``{"key", "value", "target", "passed", "before", "detail"}``: ``value`` is the figure with
today's code, ``before`` the same simulation under the behaviour the statistical audit (issue 12) found, where it is
cheap to reproduce, so the report shows what changed.
"""

#: The figures in report order: (module, JSON key). The keys are a stable interface (README, issue 12).
PARTS: tuple[tuple[str, str], ...] = (
    ("maturity", "maturity_bias"),
    ("zero_conversion", "zero_conversion_coverage"),
    ("influencers", "influencer_coverage"),
    ("bucket_null", "bucket_null_verdict_rate"),
    ("beats_baseline", "beats_baseline_null_rate"),
    ("proxy_fdr", "proxy_fdr"),
)
