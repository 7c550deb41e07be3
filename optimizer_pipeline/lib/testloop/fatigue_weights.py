"""Per-pattern fatigue discount: the ads' decay weights (``fatigue_signals``) carried to their creatives' patterns.

Join: ``fatigue_signals`` (one row per ``ad_id``, ``decay_weight`` in (0, 1], 1 unless fatigued; see
:mod:`optimizer_pipeline.lib.actions.fatigue`) -> ``creatives.ad_ids`` (the ad ids each creative runs as) ->
``creatives.pattern_hash``. Ads no creative lists, and ads listed under creatives of two different patterns, are set
aside with a reason and counted (an ad cannot discount a pattern it is not known to show, and one ad cannot show two).
An ad listed by two creatives of the *same* pattern counts once.

A pattern's weight is the **mean of its assessed ads' weights** (ads with a ``fatigue_signals`` row; fresh and watch
ads count as 1). Why the mean: the weight multiplies the pattern's value in the Thompson sampler
(:mod:`optimizer_pipeline.lib.testloop.thompson`), i.e. "the rate this pattern delivers now, as a share of what its
history shows"; a pattern's next budget is spread over its ads, so the expected multiplier of one of its ads picked
at random is the mean. Why not the minimum: one worn-out ad among ten fresh ones would cut the whole pattern to its
floor, though nine tenths of its delivery is unaffected. Why not impression-weighted: ``fatigue_signals`` carries no
per-ad exposure (an ``impressions`` column, when present, is used as the weight instead, so the lead can add it).
Patterns with no fatigued ad get exactly 1; every weight is >= the smallest ad weight > 0, so nothing is removed.
Pure logic (pandas/numpy).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Columns of :attr:`FatigueWeights.table`.
WEIGHT_COLUMNS: tuple[str, ...] = ("pattern_hash", "decay_weight", "ads", "fatigued_ads", "fatigue_reason")
#: Columns of :attr:`FatigueWeights.set_aside`.
SET_ASIDE_COLUMNS: tuple[str, ...] = ("ad_id", "reason")
#: Fatigued ads named in a pattern's reason (the rest are counted).
NAMED_ADS = 3


@dataclass(frozen=True)
class FatigueWeights:
    """Per-pattern weights (:data:`WEIGHT_COLUMNS`, only patterns with at least one assessed ad) and the ads set
    aside (:data:`SET_ASIDE_COLUMNS`). :meth:`weight_of` gives 1 for any pattern not in the table."""

    table: pd.DataFrame
    set_aside: pd.DataFrame
    assessed_ads: int

    def weight_of(self, patterns: Iterable[str]) -> np.ndarray:
        w = dict(zip(self.table["pattern_hash"], self.table["decay_weight"], strict=True))
        return np.array([float(w.get(str(p), 1.0)) for p in patterns])

    def reason_of(self, patterns: Iterable[str]) -> list[str]:
        r = dict(zip(self.table["pattern_hash"], self.table["fatigue_reason"], strict=True))
        return [str(r.get(str(p), "")) for p in patterns]


def _ad_list(value: Any, creative: str) -> list[str]:
    """A creative's ``ad_ids`` cell as a list of strings (None / NaN / empty: no ad)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError(f"creatives: creative {creative!r} field 'ad_ids' must be a list of ad ids, got {value!r}")
    out = []
    for ad in value:
        if ad is None or not str(ad).strip():
            raise ValueError(f"creatives: creative {creative!r} field 'ad_ids' has an empty ad id")
        out.append(str(ad).strip())
    return out


def ad_patterns(creatives: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(``ad_id, pattern_hash, creative_id`` one row per ad, ads claimed by two patterns set aside with a reason)."""
    missing = {"creative_id", "pattern_hash", "ad_ids"} - set(creatives.columns)
    if missing:
        raise ValueError(f"creatives is missing column(s) {sorted(missing)}")
    rows = [
        (ad, str(r.pattern_hash), str(r.creative_id))
        for r in creatives[["creative_id", "pattern_hash", "ad_ids"]].itertuples(index=False)
        for ad in _ad_list(r.ad_ids, str(r.creative_id))
    ]
    links = pd.DataFrame(rows, columns=["ad_id", "pattern_hash", "creative_id"]).drop_duplicates(
        ["ad_id", "pattern_hash"]
    )
    patterns_per_ad = links.groupby("ad_id")["pattern_hash"].nunique()
    clash = patterns_per_ad[patterns_per_ad > 1].index
    aside = [
        {
            "ad_id": ad,
            "reason": "listed in ad_ids of creatives of different patterns: "
            + ", ".join(
                f"{c} ({p})"
                for c, p in links.loc[links["ad_id"] == ad, ["creative_id", "pattern_hash"]].itertuples(index=False)
            ),
        }
        for ad in sorted(clash)
    ]
    kept = links[~links["ad_id"].isin(clash)].sort_values("ad_id", kind="stable").reset_index(drop=True)
    return kept, pd.DataFrame(aside, columns=list(SET_ASIDE_COLUMNS))


def _check_signals(fatigue: pd.DataFrame) -> pd.DataFrame:
    missing = {"ad_id", "decay_weight"} - set(fatigue.columns)
    if missing:
        raise ValueError(f"fatigue_signals is missing column(s) {sorted(missing)}")
    f = fatigue.assign(ad_id=fatigue["ad_id"].astype(str))
    dup = f["ad_id"][f["ad_id"].duplicated()]
    if len(dup):
        raise ValueError(f"fatigue_signals: ad_id {dup.iloc[0]!r} has more than one row")
    w = pd.to_numeric(f["decay_weight"], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(w) & (w > 0) & (w <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"fatigue_signals: ad_id {f['ad_id'].iloc[i]!r} field 'decay_weight' = {f['decay_weight'].iloc[i]!s} "
            "is not in (0, 1]"
        )
    return f.assign(decay_weight=w)


def pattern_decay_weights(fatigue_signals: pd.DataFrame | None, creatives: pd.DataFrame | None) -> FatigueWeights:
    """Per-pattern decay weight (module docstring). ``None`` or empty inputs give an empty table: weight 1 for all."""
    empty = FatigueWeights(pd.DataFrame(columns=list(WEIGHT_COLUMNS)), pd.DataFrame(columns=list(SET_ASIDE_COLUMNS)), 0)
    if fatigue_signals is None or fatigue_signals.empty or creatives is None or creatives.empty:
        return empty
    signals = _check_signals(fatigue_signals)
    links, clashes = ad_patterns(creatives)
    joined = signals.merge(links[["ad_id", "pattern_hash"]], on="ad_id", how="left")
    unmapped = joined.loc[joined["pattern_hash"].isna() & ~joined["ad_id"].isin(clashes["ad_id"]), "ad_id"]
    aside = pd.concat(
        [clashes, pd.DataFrame({"ad_id": unmapped, "reason": "no creative lists this ad_id in ad_ids"})],
        ignore_index=True,
    )
    joined = joined.dropna(subset=["pattern_hash"])
    exposure = "impressions" in joined.columns
    joined["_n"] = pd.to_numeric(joined["impressions"], errors="coerce").fillna(0.0) if exposure else 1.0
    out = []
    for pattern, g in joined.groupby("pattern_hash", sort=True):
        total = float(g["_n"].sum())
        weight = float(np.average(g["decay_weight"], weights=g["_n"])) if total > 0 else float(g["decay_weight"].mean())
        fatigued = g[g["decay_weight"] < 1].sort_values(["decay_weight", "ad_id"])
        if fatigued.empty:
            reason = ""
        else:
            named = "; ".join(f"fatigued ad {a}: weight {w:.2f}" for a, w in
                              zip(fatigued["ad_id"].head(NAMED_ADS), fatigued["decay_weight"].head(NAMED_ADS),
                                  strict=True))  # fmt: skip
            more = f"; {len(fatigued) - NAMED_ADS} more fatigued ad(s)" if len(fatigued) > NAMED_ADS else ""
            how = "impression-weighted mean" if exposure else "mean"
            reason = f"{named}{more}; pattern weight {weight:.2f} = {how} over its {len(g)} assessed ad(s)"
        out.append((pattern, weight, len(g), len(fatigued), reason))
    table = pd.DataFrame(out, columns=list(WEIGHT_COLUMNS))
    return FatigueWeights(table, aside.reset_index(drop=True), len(signals))
