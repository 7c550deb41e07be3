"""Pure predicates behind the pipeline's asset checks: each takes what an asset computed and returns a
:class:`Verdict` (passed + plain metadata), so the rule is tested without Dagster and reported, never raised.

One concept: "is this invariant of a table true, and what evidence shows it". ``defs/checks.py`` turns a verdict
into a Dagster check result; the thresholds and schemas themselves live with their domains and are passed in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: How many offending values a verdict lists (enough to debug, small enough for the UI).
EXAMPLES = 5
#: How a row that names no client is listed among the examples of :func:`foreign_rows`.
NO_CLIENT = "(missing)"


@dataclass(frozen=True)
class Verdict:
    """Whether an invariant holds, a one-line reason, and plain metadata (ints, floats, strings, lists)."""

    passed: bool
    reason: str
    metadata: dict[str, Any] = field(default_factory=dict)


def accounting(read: int, parts: Mapping[str, int]) -> Verdict:
    """read == sum(parts): every input item is in exactly one output (accepted, rejected, duplicate, ...)."""
    counts = {name: int(n) for name, n in parts.items()}
    accounted = sum(counts.values())
    passed = int(read) == accounted
    equation = f"read {int(read)} {'=' if passed else '!='} " + " + ".join(f"{k} {v}" for k, v in counts.items())
    return Verdict(
        passed,
        equation if passed else f"{equation}: {int(read) - accounted} item(s) unaccounted for",
        {"read": int(read), **counts, "accounted": accounted, "difference": int(read) - accounted},
    )


def foreign_rows(
    values: pd.Series, allowed: Collection[str], *, compared: str, separator: str | None = None
) -> Verdict:
    """Rows whose ``values`` (the thing that names a row's client) are not among this client's ``allowed`` keys.

    ``separator`` splits list-like cells ("a, b"): a row is foreign if any of its parts is. A missing value is foreign
    too, since a row that names no client cannot be shown to belong to this one. Vectorised: event tables have
    millions of rows."""
    allowed_set = {str(a) for a in allowed}
    missing = values.isna().to_numpy(dtype=bool)
    text = pd.Series(values.astype(object).where(~missing, "").astype(str).to_numpy(), dtype=object)
    if separator:
        known = text.map(lambda cell: all(p.strip() in allowed_set for p in cell.split(separator)))
    else:
        known = text.isin(allowed_set)
    foreign = missing | ~known.to_numpy(dtype=bool)
    named = set(text[foreign & ~missing])
    examples = sorted(named | ({NO_CLIENT} if (foreign & missing).any() else set()))[:EXAMPLES]
    n = int(foreign.sum())
    return Verdict(
        n == 0,
        f"all {len(values)} row(s) belong to this client ({compared})"
        if n == 0
        else f"{n} of {len(values)} row(s) do not belong to this client ({compared}), e.g. {', '.join(examples)}",
        {"rows": len(values), "foreign_rows": n, "allowed_keys": len(allowed_set), "examples": examples},
    )


def schema_problems(df: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Differences between ``df``'s columns and the fixed schema ``columns`` (missing, unexpected, order)."""
    expected, actual = list(columns), list(df.columns)
    problems = []
    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s): {', '.join(extra)}")
    if not missing and not extra and actual != expected:
        problems.append("columns are not in schema order")
    return problems


def fixed_schema(df: pd.DataFrame, columns: Sequence[str]) -> Verdict:
    """The table has exactly ``columns``, in order."""
    problems = schema_problems(df, columns)
    return Verdict(
        not problems,
        "; ".join(problems) or f"{len(columns)} columns as in the schema",
        {"expected_columns": len(columns), "columns": len(df.columns), "problems": problems},
    )


def non_finite_cells(df: pd.DataFrame, columns: Sequence[str]) -> dict[str, int]:
    """Per numeric column of ``columns``: how many cells are NaN or infinite (columns with none left out).

    Non-numeric columns (labels such as ``pacing_label``) are skipped; a missing column is a schema problem."""
    out: dict[str, int] = {}
    for c in columns:
        if c not in df.columns or not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
            continue
        n = int((~np.isfinite(df[c].to_numpy(dtype="float64"))).sum())
        if n:
            out[c] = n
    return out


def no_nan(df: pd.DataFrame, columns: Sequence[str]) -> Verdict:
    """No NaN or infinite value in the numeric ``columns``."""
    bad = non_finite_cells(df, columns)
    return Verdict(
        not bad,
        f"no NaN in {len(columns)} feature columns of {len(df)} row(s)"
        if not bad
        else f"{sum(bad.values())} NaN/infinite cell(s) in {', '.join(sorted(bad))}",
        {"rows": len(df), "nan_cells": int(sum(bad.values())), "nan_columns": bad},
    )


#: Smallest alpha and beta at which posterior_sanity requires the mean inside the 95 % interval (see there).
SKEW_CHECK_MIN = 0.01


def posterior_sanity(df: pd.DataFrame) -> Verdict:
    """Every Beta posterior row is proper and its columns agree: finite alpha, beta > 0; mean = alpha / (alpha +
    beta); 0 <= ci_low <= ci_high <= 1; and ci_low <= mean <= ci_high wherever alpha >= 0.01 and beta >= 0.01.

    Why the last condition is restricted: an equal-tailed interval can exclude the mean of an extremely skewed Beta,
    e.g. Beta(0.002, 1.998) has mean 0.001 above its 97.5 % quantile 1.2e-6. From min(alpha, beta) >= 0.0055 on the
    mean lies inside the equal-tailed 95 % interval (at 0.01 it is at most the 96th percentile). The fallback prior
    is Jeffreys Beta(1/2, 1/2), so only a fitted prior at its lower mean bound can still be that skewed; such rows
    are counted in the metadata (``skewed_rows``) and still checked for everything else."""
    if df.empty:
        return Verdict(True, "no posterior rows", {"rows": 0, "bad_rows": 0, "skewed_rows": 0, "examples": []})
    a, b = df["alpha"].astype(float), df["beta"].astype(float)
    low, mean, high = df["ci_low"].astype(float), df["mean"].astype(float), df["ci_high"].astype(float)
    unimodal = (a >= SKEW_CHECK_MIN) & (b >= SKEW_CHECK_MIN)
    problems = {
        "alpha_not_positive": ~(np.isfinite(a) & (a > 0)),
        "beta_not_positive": ~(np.isfinite(b) & (b > 0)),
        "mean_not_alpha_over_alpha_plus_beta": ~pd.Series(
            np.isclose(mean, a / (a + b), rtol=1e-9, atol=1e-12), index=df.index
        ),
        "interval_outside_0_1": ~((low >= 0) & (low <= high) & (high <= 1)),
        "ci_low_above_mean": unimodal & ~(low <= mean),
        "mean_above_ci_high": unimodal & ~(mean <= high),
    }
    bad = pd.concat(problems, axis=1).any(axis=1)
    key = df["pattern_hash"].astype(str) if "pattern_hash" in df.columns else df.index.astype(str)
    examples = key[bad].head(EXAMPLES).tolist()
    counts = {name: int(mask.sum()) for name, mask in problems.items()}
    n = int(bad.sum())
    detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    return Verdict(
        n == 0,
        f"all {len(df)} posterior(s) are proper and consistent"
        if n == 0
        else f"{n} of {len(df)} posterior(s) broken ({detail}), e.g. {', '.join(examples)}",
        {"rows": len(df), "bad_rows": n, "skewed_rows": int((~unimodal).sum()), **counts, "examples": examples},
    )


def beats_baseline(status: str, beats: bool, metrics: pd.DataFrame, *, ok_status: str) -> Verdict:
    """A fitted model predicts held-out creators better than the mean baseline (the model's own verdict,
    ``beats``); with no model (status other than ``ok_status``) there is nothing to compare and it passes."""
    if status != ok_status:
        return Verdict(True, f"no model fitted ({status}): nothing to compare", {"evaluated": False, "status": status})
    best: dict[str, Any] = {}
    if len(metrics) and {"model", "r2", "rmse", "baseline_r2", "baseline_rmse"} <= set(metrics.columns):
        tested = "p_holm" in metrics.columns
        top = metrics.sort_values("p_holm" if tested else "r2", ascending=tested).iloc[0]
        best = {"best_model": str(top["model"])}
        shown = ("r2", "baseline_r2", "rmse", "baseline_rmse", "p_holm", "t_corrected", "alpha")
        best |= {c: float(top[c]) for c in shown if c in metrics.columns}
    if beats:
        reason = "a model significantly beats the mean baseline on held-out creators (Holm p <= alpha)"
    else:
        reason = "no model significantly beats the mean baseline on held-out creators: drivers are descriptive only"
    return Verdict(bool(beats), reason, {"evaluated": True, "status": status, **best})


def enough_data(status: str, counts: Mapping[str, int], *, insufficient: str) -> Verdict:
    """The asset's status does not start with ``insufficient`` (the shared "insufficient data" text)."""
    passed = not status.startswith(insufficient)
    return Verdict(passed, status, {"status": status, **{k: int(v) for k, v in counts.items()}})
