"""The winner index: every promoted winner's creative DNA and metrics, searchable by similarity and filters.

Why: a new creative brief starts from "what has already won for us that looks like this?". One row per experiment
whose latest promotion stands and whose winner is a variant (not the control), with its pattern tags (hook, emo,
pace, pain, cta of :mod:`optimizer_pipeline.lib.testloop.pattern_hash`), duration bucket, named numeric features
(columns of :mod:`optimizer_pipeline.lib.features.dictionary`), the lift of the standing call and the winner's
counts and metrics at the experiment's latest look.

Similarity: cosine similarity (DuckDB ``list_cosine_similarity``) of the z-scored feature vectors; each feature is
standardised by its mean and population sd over the whole index (not the filtered rows), so a feature in seconds
does not outweigh one in shares, and the query is standardised with the same numbers. A missing feature value (in a
winner or left out of a query dict) and a feature constant over the index count as the mean (z = 0). A vector of
all zeros has no direction: its similarity is NULL and it ranks last (Salton & McGill 1983, *Introduction to
Modern Information Retrieval*, cosine measure).

Filters (a dict, turned into a parameterised SQL ``WHERE``): a tag or text column equals a value or is in a list
(``{"hook": "question"}``, ``{"pace": ["fast", "medium"]}``; field names ``hook_type``... are aliases), and
``min_<col>`` / ``max_<col>`` bound a numeric column. So "question hooks with CTR >= 2 %" is
``{"hook": "question", "min_ctr": 0.02}`` and "winners under 30 s that lifted CVR at least 10 %" is
``{"primary_metric": "cvr", "duration_bucket": ["0-15s", "16-30s"], "min_lift": 0.10}`` (the duration buckets of
:mod:`optimizer_pipeline.lib.core.buckets`, the project's one home of them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from optimizer_pipeline.lib.actions.promotion_history import promotion_history
from optimizer_pipeline.lib.core.buckets import bucket_for
from optimizer_pipeline.lib.decisions.experiment_registry import METRIC_RATIOS, Experiment
from optimizer_pipeline.lib.testloop.creative_autopsy import ad_id_list
from optimizer_pipeline.lib.testloop.pattern_hash import ATTRIBUTES, PATTERN_TAGS, pattern_hash

__all__ = [
    "INDEX_COLUMNS", "KEY_FEATURES", "WinnerIndexError", "build_winner_index", "creative_variant_dna", "search_winners",
    "variant_dna",
]  # fmt: skip

# fmt: off
INDEX_COLUMNS: list[str] = [
    "experiment_id", "winner", "primary_metric", "decided_at", "look_at", "lift", "lift_low", "lift_high",
    "confidence", "lift_at_promotion", "impressions", "clicks", "conversions", "spend", "revenue", *METRIC_RATIOS,
    "metric_value", "control_metric_value", *ATTRIBUTES, "pattern_hash", "duration_s", "duration_bucket",
    "creative_ids",
]
# fmt: on
_ALIASES = dict(PATTERN_TAGS)
_KEYS = ("experiment_id", "variant")
_COUNTS = ("impressions", "clicks", "conversions", "spend", "revenue")
#: The extracted features a winner's DNA carries (``lib/features/dictionary.py`` names), about one per group of
#: the dictionary (pacing, hook, motion, colour, faces, text, audio): a brief is compared on what a creative team
#: can change, and a dozen near-duplicates of one property (the timeline summaries of the cut density) would
#: otherwise decide the cosine similarity on their own.
KEY_FEATURES: tuple[str, ...] = (
    "cuts_per_second", "hook_cut_count", "hook_motion_mean", "hook_text_word_count", "motion_mean",
    "brightness_mean", "face_share", "text_share", "tempo_bpm", "speech_score",
)  # fmt: skip
#: Text columns of a creative's DNA carried to its variant (label field names, as in ``creative_dna``).
_DNA_TEXT = tuple(field for field, _ in PATTERN_TAGS)


class WinnerIndexError(ValueError):
    """Trails, DNA, a query vector or filters that cannot build or search the winner index."""


def variant_dna(experiments: Sequence[Experiment], ad_dna: pd.DataFrame) -> pd.DataFrame:
    """Creative DNA per (experiment_id, variant) from DNA per ``ad_id``: numeric columns averaged over the
    variant's ads, text columns kept when the ads agree and ``"mixed"`` otherwise."""
    if "ad_id" not in ad_dna.columns:
        raise WinnerIndexError("ad_dna lacks column 'ad_id'")
    dna = ad_dna.assign(ad_id=ad_dna["ad_id"].astype(str)).set_index("ad_id")
    rows = []
    for exp in experiments:
        for v in exp.variants:
            mine = dna.loc[dna.index.intersection(list(v.ad_ids))]
            if not len(mine):
                continue
            row: dict[str, Any] = {"experiment_id": exp.id, "variant": v.name}
            for c in mine.columns:
                col = mine[c]
                if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                    row[c] = float(col.mean())
                else:
                    values = col.dropna().astype(str).unique()
                    row[c] = values[0] if len(values) == 1 else ("mixed" if len(values) else "")
            rows.append(row)
    return pd.DataFrame(rows)


def creative_variant_dna(
    experiments: Sequence[Experiment], creative_dna: pd.DataFrame, features: Sequence[str] = ()
) -> pd.DataFrame:
    """Creative DNA per (experiment_id, variant) from ``creative_dna`` (one row per creative with ``creative_id``,
    ``ad_ids``, the label fields, ``duration_s`` and the numeric ``features``): a variant's creatives are those
    whose ads serve it; numbers are averaged over those creatives (each counted once, however many of its ads
    serve the variant), a label is kept when they agree and is ``"mixed"`` otherwise, and ``creative_ids`` lists
    them. A variant none of whose ads has a creative gets no row (its winner then has empty DNA)."""
    missing = [c for c in ("creative_id", "ad_ids", *features) if c not in creative_dna.columns]
    if missing:
        raise WinnerIndexError(f"creative_dna lacks columns {missing}")
    by_ad: dict[str, set[str]] = {}
    for creative, ads in zip(creative_dna["creative_id"].astype(str), creative_dna["ad_ids"], strict=True):
        for ad in ad_id_list(ads):
            by_ad.setdefault(ad, set()).add(creative)
    dna = creative_dna.assign(creative_id=creative_dna["creative_id"].astype(str)).drop_duplicates("creative_id")
    dna = dna.set_index("creative_id")
    text = [c for c in _DNA_TEXT if c in dna.columns]
    numbers = [c for c in ("duration_s", *features) if c in dna.columns]
    rows = []
    for exp in experiments:
        for v in exp.variants:
            creatives = sorted({c for ad in v.ad_ids for c in by_ad.get(str(ad), ())})
            if not creatives:
                continue
            mine = dna.loc[creatives]
            row: dict[str, Any] = {"experiment_id": exp.id, "variant": v.name, "creative_ids": ", ".join(creatives)}
            for c in text:
                values = mine[c].dropna().astype(str).unique()
                row[c] = values[0] if len(values) == 1 else ("mixed" if len(values) else "")
            for c in numbers:
                row[c] = float(pd.to_numeric(mine[c], errors="coerce").mean())
            rows.append(row)
    return pd.DataFrame(rows, columns=["experiment_id", "variant", "creative_ids", *text, *numbers])


def _metrics(row: pd.Series) -> dict[str, float]:
    out = {}
    for metric, (num, den) in METRIC_RATIOS.items():
        d = float(row.get(den, math.nan))
        out[metric] = float(row.get(num, math.nan)) / d if d > 0 else math.nan
    return out


def build_winner_index(
    decisions: pd.DataFrame,
    variants: pd.DataFrame,
    dna: pd.DataFrame | None = None,
    features: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per standing variant winner (:data:`INDEX_COLUMNS` then ``features``). ``dna``: one row per
    (experiment_id, variant) with any of the tags (or their field names), ``duration_s`` or ``duration_bucket``
    and the numeric ``features`` (e.g. from :func:`variant_dna`); winners without DNA get empty tags and NaN
    features."""
    need = ("experiment_id", "look_at", "variant", "is_control", "metric_value", *_COUNTS)
    missing = [c for c in need if c not in variants.columns]
    if missing:
        raise WinnerIndexError(f"the variants trail lacks columns {missing}")
    history = promotion_history(decisions, variants)
    standing = history[history["standing"].astype(bool) & ~history["winner_is_control"].fillna(False).astype(bool)]
    standing = standing.sort_values("decided_at", kind="stable").drop_duplicates("experiment_id", keep="last")
    dna_rows = _dna_lookup(dna, features)
    trail = decisions.assign(look_at=pd.to_datetime(decisions["look_at"], utc=True, format="ISO8601"))
    vtrail = variants.assign(look_at=pd.to_datetime(variants["look_at"], utc=True, format="ISO8601"))
    rows = []
    for _, promo in standing.iterrows():
        exp_id, winner = promo["experiment_id"], promo["winner"]
        last = trail[trail["experiment_id"] == exp_id].sort_values("look_at", kind="stable").iloc[-1]
        arms = vtrail[(vtrail["experiment_id"] == exp_id) & (vtrail["look_at"] == last["look_at"])]
        win, ctl = arms[arms["variant"] == winner], arms[arms["is_control"].fillna(False).astype(bool)]
        if not len(win):
            raise WinnerIndexError(f"experiment '{exp_id}': no variant row for winner '{winner}' at its latest look")
        w = win.iloc[0]
        d = dna_rows.get((str(exp_id), str(winner)), {})
        tags = {t: str(d.get(t, "") or "") for t in ATTRIBUTES}
        seconds = float(d.get("duration_s", math.nan))
        bucket = str(d.get("duration_bucket", "") or "") or (bucket_for(seconds) or "")
        rows.append(
            {
                "experiment_id": exp_id,
                "winner": winner,
                "primary_metric": promo["primary_metric"],
                "decided_at": promo["decided_at"],
                "look_at": last["look_at"],
                **{c: float(last[c]) for c in ("lift", "lift_low", "lift_high", "confidence")},
                "lift_at_promotion": float(promo["lift"]),
                **{c: float(w[c]) for c in _COUNTS},
                **_metrics(w),
                "metric_value": float(w["metric_value"]),
                "control_metric_value": float(ctl.iloc[0]["metric_value"]) if len(ctl) else math.nan,
                **tags,
                "pattern_hash": pattern_hash({t: v for t, v in tags.items() if v}),
                "duration_s": seconds,
                "duration_bucket": bucket,
                "creative_ids": str(d.get("creative_ids", "") or ""),
                **{f: float(d.get(f, math.nan)) for f in features},
            }
        )
    return pd.DataFrame(rows, columns=[*INDEX_COLUMNS, *features])


def _dna_lookup(dna: pd.DataFrame | None, features: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]]:
    if dna is None:
        if features:
            raise WinnerIndexError(f"features {list(features)} need a dna table")
        return {}
    missing = [c for c in (*_KEYS, *features) if c not in dna.columns]
    if missing:
        raise WinnerIndexError(f"the dna table lacks columns {missing}")
    clash = [c for c in features if c in INDEX_COLUMNS]
    if clash:
        raise WinnerIndexError(f"features {clash} clash with index columns")
    frame = dna.rename(columns={f: t for f, t in _ALIASES.items() if f in dna.columns})
    if frame.duplicated(list(_KEYS)).any():
        raise WinnerIndexError("the dna table has more than one row per (experiment_id, variant)")
    return {(str(r["experiment_id"]), str(r["variant"])): r for r in frame.to_dict("records")}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _where(index: pd.DataFrame, filters: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    clauses, params = [], []
    for key, value in filters.items():
        bound = key[:4] if key[:4] in ("min_", "max_") else ""
        col = _ALIASES.get(key[len(bound) :], key[len(bound) :])
        if col not in index.columns:
            raise WinnerIndexError(f"unknown filter {key!r}: no index column {col!r}")
        if bound:
            if not pd.api.types.is_numeric_dtype(index[col]) or isinstance(value, bool | str):
                raise WinnerIndexError(f"filter {key!r} needs a numeric column and a number, got {value!r}")
            clauses.append(f"{_quote(col)} {'>=' if bound == 'min_' else '<='} ?")
            params.append(float(value))
        elif isinstance(value, list | tuple | set | frozenset):
            values = sorted(value, key=str)
            if not values:
                raise WinnerIndexError(f"filter {key!r} has an empty list")
            clauses.append(f"{_quote(col)} IN ({', '.join('?' * len(values))})")
            params.extend(values)
        else:
            clauses.append(f"{_quote(col)} = ?")
            params.append(value)
    return clauses, params


def search_winners(
    index: pd.DataFrame,
    query_vector: Mapping[str, float] | Sequence[float] | None = None,
    filters: Mapping[str, Any] | None = None,
    k: int = 5,
    *,
    features: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The ``k`` winners most similar to ``query_vector`` (a dict feature -> value, or values in ``features``
    order) among those passing ``filters`` (module docstring), with ``similarity`` and ``rank`` in front of the
    index columns. ``features`` default: the index's columns after :data:`INDEX_COLUMNS`. Without a query the rows
    are ranked by lift and ``similarity`` is NULL."""
    if not (isinstance(k, int) and k >= 1):
        raise WinnerIndexError(f"k must be a positive integer, got {k!r}")
    feats = list(features) if features is not None else [c for c in index.columns if c not in INDEX_COLUMNS]
    unknown = [f for f in feats if f not in index.columns]
    if unknown:
        raise WinnerIndexError(f"features {unknown} are not index columns")
    clauses, params = _where(index, filters or {})
    con = duckdb.connect()
    con.register("winners", index)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    if query_vector is None:
        sql = f"SELECT NULL::DOUBLE AS similarity, * FROM winners {where} ORDER BY lift DESC NULLS LAST, experiment_id"
        out = con.execute(f"{sql} LIMIT {k}", params).df()
    else:
        q = _query(query_vector, feats)
        z_idx = ", ".join(f"coalesce(({_quote(f)} - m{i}) / nullif(s{i}, 0), 0)" for i, f in enumerate(feats))
        z_q = ", ".join(f"coalesce((?::DOUBLE - m{i}) / nullif(s{i}, 0), 0)" for i in range(len(feats)))
        stats = ", ".join(f"avg({_quote(f)}) AS m{i}, stddev_pop({_quote(f)}) AS s{i}" for i, f in enumerate(feats))
        sql = f"""
            WITH st AS (SELECT {stats} FROM winners),
            scored AS (
                SELECT list_cosine_similarity([{z_idx}]::DOUBLE[], [{z_q}]::DOUBLE[]) AS sim, w.*
                FROM winners w, st
            )
            SELECT CASE WHEN isnan(sim) THEN NULL ELSE sim END AS similarity, * EXCLUDE (sim) FROM scored {where}
            ORDER BY similarity DESC NULLS LAST, lift DESC NULLS LAST, experiment_id LIMIT {k}"""
        out = con.execute(sql, [*q, *params]).df()
    con.close()
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def _query(query_vector: Mapping[str, float] | Sequence[float], feats: list[str]) -> list[float | None]:
    if not feats:
        raise WinnerIndexError("a query vector needs feature columns in the index")
    if isinstance(query_vector, Mapping):
        extra = [f for f in query_vector if f not in feats]
        if extra:
            raise WinnerIndexError(f"query features {extra} are not among {feats}")
        values = [float(query_vector.get(f, math.nan)) for f in feats]
    else:
        values = [float(v) for v in query_vector]
        if len(values) != len(feats):
            raise WinnerIndexError(f"query vector has {len(values)} values for {len(feats)} features {feats}")
    return [v if math.isfinite(v) else None for v in values]
