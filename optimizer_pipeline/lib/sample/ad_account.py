"""Seeded daily ad metrics of the sample ad account: the decision loop's test oracle (issue 13, item 6).

:func:`generate_ad_account` turns the experiments of a registry (``glowfuel_experiments.yaml``: ad ids and planned
splits) into canonical ``ad_performance`` rows, one per ad and day, whose rates follow :data:`PLANTED_ARMS` (a
table of multipliers keyed by experiment id and variant name; anything not in it is a neutral arm).
:func:`ground_truth` says what a correct decision loop must conclude; :func:`write_daily_exports` writes one
generic-format CSV per day for the ad inbox. This is a test oracle, not evidence about any ad platform.

The model, per experiment and day ``d`` (shared by its arms, so splits and costs stay comparable):

* impressions of the experiment ~ Poisson(``daily_impressions`` x ads x weekday factor x volume noise), weekday
  factors :data:`WEEKDAY_FACTORS` (weekend dip, mean 1), volume noise log-normal (sigma :data:`VOLUME_SIGMA`, mean 1);
  split over its ads by a multinomial draw with the delivered shares (the planned split, unless the table plants a
  sample-ratio mismatch), so a healthy split passes an SRM check exactly as often as it should;
* one frequency (:data:`FREQUENCY_RANGE`, rising slowly as the audience saturates) and one CPM (``base`` uniform in
  :data:`CPM_RANGE`, day noise sigma :data:`CPM_SIGMA`) for every arm: reach = impressions / frequency, spend =
  impressions x CPM / 1000, so reach shares equal impression shares and arms pay the same per impression.

Per ad and day: clicks ~ Binomial(impressions, CTR x M), conversions ~ Binomial(clicks, CVR x M'), with M, M'
independent mean-one log-normal day multipliers (a binomial-log-normal mixture, the extra-binomial variation of
Williams 1982, Applied Statistics 31:144). They make counts over-dispersed as real ones are: a day with ``n``
impressions has variance ``n p (1 - p) + n (n - 1) p^2 kappa``, kappa = Var(M) = exp(sigma^2) - 1, i.e. a variance
inflation factor of ``1 + (n - 1) p kappa / (1 - p)`` (McCullagh & Nelder 1989, section 4.5). sigma is chosen by
:func:`day_noise_sigma` so that the CTR's inflation is ``ctr_vif`` (default :data:`DEFAULT_CTR_VIF` = 2) at the
base CTR and ``daily_impressions``: ``between_day_vif`` on clicks / impressions then measures about 2 (more on the
busier or higher-CTR arms, less on weekends; the sample registry's account: 2.06 expected, 2.02 measured over two
years, 2.04 +- 0.20 over 28 days across 200 seeds). Revenue is the sum of the orders, each log-normal with mean
:data:`AVERAGE_ORDER_VALUE` (sigma :data:`ORDER_VALUE_SIGMA`), in whole cents.

Random streams: every draw of experiment ``e`` on date ``t`` comes from
``SeedSequence([seed, crc32(e), stream, t.toordinal()])`` and every draw of an ad from its ad id instead, so a
row depends only on the seed, its ad's experiment and its date: adding an experiment, adding days or moving
``start`` leaves every other row unchanged.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.ads.export_schema import AD_PERFORMANCE_COLUMNS, AD_PERFORMANCE_DTYPES
from optimizer_pipeline.lib.core.atomic_files import atomic_write_bytes
from optimizer_pipeline.lib.decisions.experiment_registry import HIGHER_IS_BETTER, Experiment

BASE_CTR = 0.015
BASE_CVR = 0.03
AVERAGE_ORDER_VALUE = 45.0  # USD
ORDER_VALUE_SIGMA = 0.4
CURRENCY = "USD"
PLATFORM = "generic"
DEFAULT_DAILY_IMPRESSIONS = 12_000  # per ad, on an average day
DEFAULT_CTR_VIF = 2.0
#: Monday ... Sunday: a weekend dip of 20 %, normalised to mean 1.
WEEKDAY_FACTORS: tuple[float, ...] = tuple(f / (6.6 / 7) for f in (1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.8))
VOLUME_SIGMA = 0.15
CPM_RANGE = (8.0, 12.0)  # USD per 1,000 impressions
CPM_SIGMA = 0.08
FREQUENCY_RANGE = (1.1, 1.8)
FREQUENCY_START = (1.15, 1.35)  # first-day frequency, uniform
FREQUENCY_GROWTH = 0.01  # per day since the experiment's start
FREQUENCY_SIGMA = 0.03
SRM_PLANTED_MIN_GAP = 0.01  # a delivered share this far from the planned one is a planted sample-ratio mismatch
#: ground_truth's expected decisions besides "promote <variant>".
NO_WINNER = "no winner"
BLOCKED_SRM = "blocked-srm"
BLOCKED_GUARDRAIL = "blocked-guardrail"

_STREAM_EXPERIMENT, _STREAM_EXPERIMENT_DAY, _STREAM_AD_DAY = 0, 1, 2


class AdAccountError(ValueError):
    """Arguments, a planted table or a frame the sample ad account cannot be built or written from."""


@dataclass(frozen=True)
class PlantedArm:
    """An arm's planted truth: CTR and CVR multipliers on :data:`BASE_CTR` / :data:`BASE_CVR`, and the share of the
    experiment's impressions it is delivered (``None``: the planned split)."""

    ctr: float = 1.0
    cvr: float = 1.0
    delivered_share: float | None = None


#: (experiment id, variant name) -> planted truth; the sample registry's header comment, as multipliers.
PLANTED_ARMS: Mapping[tuple[str, str], PlantedArm] = MappingProxyType(
    {
        ("hook-question-vs-statement", "question-hook"): PlantedArm(ctr=1.30),  # a real CTR winner
        ("aa-same-creative", "copy"): PlantedArm(),  # identical to its control (A/A)
        ("cta-shop-vs-learn", "control"): PlantedArm(delivered_share=0.65),  # planned 50/50: SRM
        ("cta-shop-vs-learn", "learn-more"): PlantedArm(delivered_share=0.35),
        ("price-anchor-offer", "anchored-price"): PlantedArm(ctr=1.20, cvr=0.60),  # CPA x 1/(1.2 x 0.6) = 1.39
    }
)


def day_noise_sigma(vif: float, daily_impressions: float, ctr: float = BASE_CTR) -> float:
    """sigma of the mean-one log-normal day multiplier that inflates a binomial rate's variance by ``vif`` at
    ``daily_impressions`` trials and rate ``ctr``: kappa = (vif - 1)(1 - p) / ((n - 1) p), sigma^2 = log(1 + kappa)."""
    if not (math.isfinite(vif) and vif >= 1.0):
        raise AdAccountError(f"ctr_vif must be a finite number >= 1, got {vif!r}")
    if not (math.isfinite(daily_impressions) and daily_impressions > 1):
        raise AdAccountError(f"daily_impressions must be a number > 1, got {daily_impressions!r}")
    if not 0.0 < ctr < 1.0:
        raise AdAccountError(f"ctr must be in (0, 1), got {ctr!r}")
    kappa = (vif - 1.0) * (1.0 - ctr) / ((daily_impressions - 1.0) * ctr)
    return math.sqrt(math.log1p(kappa))


def _rng(seed: int, key: str, stream: int, day: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(key.encode()), stream, day]))


def _mean_one_lognormal(rng: np.random.Generator, sigma: float, size: int | None = None) -> np.ndarray | float:
    return np.exp(sigma * rng.standard_normal(size) - sigma**2 / 2)


def _arm(planted: Mapping[tuple[str, str], PlantedArm], experiment_id: str, variant: str) -> PlantedArm:
    return planted.get((experiment_id, variant), PlantedArm())


def delivered_shares(
    experiment: Experiment, planted: Mapping[tuple[str, str], PlantedArm] = PLANTED_ARMS
) -> dict[str, float]:
    """Variant name -> share of the experiment's impressions actually delivered (planted, else the planned split)."""
    arms = {v.name: _arm(planted, experiment.id, v.name) for v in experiment.variants}
    set_shares = {n: a.delivered_share for n, a in arms.items() if a.delivered_share is not None}
    if not set_shares:
        return experiment.split
    if len(set_shares) != len(arms):
        missing = sorted(set(arms) - set(set_shares))
        raise AdAccountError(f"planted table: experiment '{experiment.id}' sets delivered shares for some variants "
                             f"but not for {missing}; set all or none")  # fmt: skip
    if any(not 0.0 < s < 1.0 for s in set_shares.values()) or abs(math.fsum(set_shares.values()) - 1.0) > 1e-9:
        raise AdAccountError(
            f"planted table: delivered shares of experiment '{experiment.id}' must be in (0, 1) and sum to 1, "
            f"got {set_shares}"
        )
    return set_shares


def _check_arguments(
    experiments: Sequence[Experiment], days: int, planted: Mapping[tuple[str, str], PlantedArm]
) -> None:
    if not experiments:
        raise AdAccountError("need at least one experiment (load them with load_experiments)")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise AdAccountError(f"days must be an integer >= 1, got {days!r}")
    owner: dict[str, str] = {}
    for exp in experiments:
        for ad in exp.ad_ids:
            if ad in owner:
                raise AdAccountError(f"ad '{ad}' is in experiments '{owner[ad]}' and '{exp.id}'; one ad, one test")
            owner[ad] = exp.id
    for (exp_id, variant), arm in planted.items():
        if not (arm.ctr > 0 and arm.cvr > 0 and math.isfinite(arm.ctr) and math.isfinite(arm.cvr)):
            raise AdAccountError(f"planted table: ({exp_id}, {variant}) multipliers must be finite and > 0")


def generate_ad_account(
    experiments: Sequence[Experiment],
    *,
    start: date,
    days: int,
    seed: int,
    daily_impressions: float = DEFAULT_DAILY_IMPRESSIONS,
    ctr_vif: float = DEFAULT_CTR_VIF,
    planted: Mapping[tuple[str, str], PlantedArm] = PLANTED_ARMS,
    campaign_id: str = "sample-tests",
) -> pd.DataFrame:
    """Canonical ``ad_performance`` rows (no derived metrics), one per ad of ``experiments`` and day of
    ``[start, start + days)``, sorted by ad id and date (module docstring for the model). Each arm runs in its own ad
    set, ``"<experiment id>--<variant>"`` (as a platform A/B test splits ad sets, so budgets can move between arms);
    the ad name is ``"<experiment id> / <variant>"``."""
    _check_arguments(experiments, days, planted)
    sigma = day_noise_sigma(ctr_vif, daily_impressions)
    dates = [start + timedelta(days=i) for i in range(days)]
    frames = [_experiment_rows(exp, dates, seed, daily_impressions, sigma, planted, campaign_id) for exp in experiments]
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["ad_id", "date"], kind="stable").reset_index(drop=True)
    return pd.DataFrame({c: out[c].astype(t) for c, t in AD_PERFORMANCE_DTYPES.items()})


def _experiment_rows(
    exp: Experiment,
    dates: list[date],
    seed: int,
    daily_impressions: float,
    sigma: float,
    planted: Mapping[tuple[str, str], PlantedArm],
    campaign_id: str,
) -> pd.DataFrame:
    shares = delivered_shares(exp, planted)
    ads = [(v.name, ad, shares[v.name] / len(v.ad_ids)) for v in exp.variants for ad in v.ad_ids]
    ad_shares = np.array([s for _, _, s in ads])
    ad_shares = ad_shares / ad_shares.sum()
    setup = _rng(seed, exp.id, _STREAM_EXPERIMENT)
    base_cpm = float(setup.uniform(*CPM_RANGE))
    base_frequency = float(setup.uniform(*FREQUENCY_START))
    first = exp.start.date() if exp.start is not None else dates[0]
    rows: list[dict] = []
    for day in dates:
        rng = _rng(seed, exp.id, _STREAM_EXPERIMENT_DAY, day.toordinal())
        mean = daily_impressions * len(ads) * WEEKDAY_FACTORS[day.weekday()]
        total = int(rng.poisson(mean * _mean_one_lognormal(rng, VOLUME_SIGMA)))
        impressions = rng.multinomial(total, ad_shares)
        cpm = base_cpm * float(_mean_one_lognormal(rng, CPM_SIGMA))
        grown = base_frequency + FREQUENCY_GROWTH * max(0, (day - first).days)
        frequency = float(np.clip(grown + FREQUENCY_SIGMA * rng.standard_normal(), *FREQUENCY_RANGE))
        for (variant, ad, _), n in zip(ads, impressions, strict=True):
            arm = _arm(planted, exp.id, variant)
            rows.append(
                {
                    "ad_id": ad,
                    "date": day,
                    "ad_name": f"{exp.id} / {variant}",
                    "adset_id": f"{exp.id}--{variant}",
                    "campaign_id": campaign_id,
                    **_ad_day(int(n), arm, cpm, frequency, sigma, _rng(seed, ad, _STREAM_AD_DAY, day.toordinal())),
                }
            )
    return pd.DataFrame(rows)


def _ad_day(
    impressions: int, arm: PlantedArm, cpm: float, frequency: float, sigma: float, rng: np.random.Generator
) -> dict:
    """One ad's counts and money on one day, given its impressions and the experiment's CPM and frequency."""
    ctr = min(1.0, BASE_CTR * arm.ctr * float(_mean_one_lognormal(rng, sigma)))
    clicks = int(rng.binomial(impressions, ctr))
    cvr = min(1.0, BASE_CVR * arm.cvr * float(_mean_one_lognormal(rng, sigma)))
    conversions = int(rng.binomial(clicks, cvr))
    orders = _mean_one_lognormal(rng, ORDER_VALUE_SIGMA, conversions)
    revenue_cents = int(np.rint(AVERAGE_ORDER_VALUE * 100 * np.asarray(orders)).sum())
    reach = max(1, round(impressions / frequency)) if impressions > 0 else 0
    return {
        "impressions": impressions,
        "reach": reach,
        # as the export reader derives it: impressions / reach to 6 decimals (unknown without reach)
        "frequency": float(np.round(impressions / reach, 6)) if reach > 0 else pd.NA,
        "clicks": clicks,
        "spend": int(np.rint(impressions * cpm / 10)) / 100,
        "conversions": conversions,
        "revenue": revenue_cents / 100,
        "currency": CURRENCY,
        "platform": PLATFORM,
    }


def _planted_ratio(metric: str, arm: PlantedArm, control: PlantedArm) -> float:
    """Treatment / control of a metric's planted value (the same CPM and order value in every arm)."""
    ctr, cvr = arm.ctr / control.ctr, arm.cvr / control.cvr
    return {"ctr": ctr, "cvr": cvr, "cpa": 1.0 / (ctr * cvr), "roas": ctr * cvr, "revenue_per_impression": ctr * cvr}[
        metric
    ]


def ground_truth(
    experiments: Sequence[Experiment], *, planted: Mapping[tuple[str, str], PlantedArm] = PLANTED_ARMS
) -> pd.DataFrame:
    """The planted truth per experiment and the decision a correct loop reaches with enough data.

    Columns ``experiment_id``, ``primary_metric``, ``expected_decision`` (``"promote <variant>"``, ``"no winner"``,
    ``"blocked-srm"`` or ``"blocked-guardrail"``) and ``why``. Rules in the loop's order: a delivered split off the
    plan blocks everything (SRM); else the treatment with the largest planted gain on the primary metric above
    ``min_relative_lift`` wins, unless it degrades a guardrail by more than the guardrail allows.
    """
    rows = []
    for exp in experiments:
        shares = delivered_shares(exp, planted)
        control = _arm(planted, exp.id, exp.control.name)
        rows.append(
            {"experiment_id": exp.id, "primary_metric": exp.primary_metric, **_decision(exp, shares, control, planted)}
        )
    return pd.DataFrame(rows, columns=["experiment_id", "primary_metric", "expected_decision", "why"])


def _decision(
    exp: Experiment, shares: Mapping[str, float], control: PlantedArm, planted: Mapping[tuple[str, str], PlantedArm]
) -> dict[str, str]:
    planned = exp.split
    if any(abs(shares[n] - planned[n]) >= SRM_PLANTED_MIN_GAP for n in planned):
        text = ", ".join(f"{n} {shares[n]:.0%} (planned {planned[n]:.0%})" for n in planned)
        return {"expected_decision": BLOCKED_SRM, "why": f"sample-ratio mismatch planted: delivered {text}"}
    sign = 1.0 if HIGHER_IS_BETTER[exp.primary_metric] else -1.0
    gains = {
        v.name: sign * (_planted_ratio(exp.primary_metric, _arm(planted, exp.id, v.name), control) - 1.0)
        for v in exp.treatments
    }
    best = max(gains, key=lambda n: gains[n])
    if not gains[best] > max(exp.min_relative_lift, 0.0):
        return {
            "expected_decision": NO_WINNER,
            "why": f"planted {exp.primary_metric} gain of the best arm ({best}) {gains[best]:+.0%}, "
            f"minimum worth acting on {exp.min_relative_lift:.0%}",
        }
    arm = _arm(planted, exp.id, best)
    for g in exp.guardrails:
        ratio = _planted_ratio(g.metric, arm, control)
        degradation = ratio - 1.0 if not g.higher_is_better else 1.0 - ratio
        if degradation > g.max_degradation:
            return {
                "expected_decision": BLOCKED_GUARDRAIL,
                "why": f"{best} gains {gains[best]:+.0%} {exp.primary_metric} but its {g.metric} is "
                f"{ratio:.2f} x the control's (at most {g.max_degradation:.0%} worse allowed)",
            }
    return {
        "expected_decision": f"promote {best}",
        "why": f"planted {exp.primary_metric} gain of {best} {gains[best]:+.0%} "
        f"(minimum worth acting on {exp.min_relative_lift:.0%}), no guardrail breached",
    }


def _export_text(rows: pd.DataFrame) -> str:
    """Generic-format CSV text: canonical column names (no platform), ISO dates, cents, blank for unknown."""
    cells = pd.DataFrame(index=rows.index)
    for column in AD_PERFORMANCE_COLUMNS:
        if column == "platform":
            continue
        values = rows[column]
        if column == "date":
            text = values.map(lambda d: d.isoformat())
        elif column in ("spend", "revenue"):
            text = values.map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
        elif column == "frequency":
            text = values.map(lambda v: "" if pd.isna(v) else f"{v:.6f}")
        else:
            text = values.astype("string").fillna("")
        cells[column] = text.astype(str)
    buffer = io.StringIO()
    cells.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def write_daily_exports(frame: pd.DataFrame, folder: str | Path, *, prefix: str = "ads") -> list[Path]:
    """One generic-format CSV per day (``<prefix>-YYYY-MM-DD.csv``, sortable by day) in ``folder``, each written
    atomically; a file whose bytes are already there is left untouched, so a rerun changes nothing. Returns the
    paths in day order."""
    missing = [c for c in AD_PERFORMANCE_COLUMNS if c not in frame.columns]
    if missing:
        raise AdAccountError(f"frame lacks ad_performance column(s) {missing}")
    if not prefix or "/" in prefix or "\\" in prefix or prefix.startswith("."):
        raise AdAccountError(f"prefix must be a plain, visible file-name part, got {prefix!r}")
    if frame["date"].isna().any() or not all(isinstance(d, date) for d in frame["date"]):
        raise AdAccountError("frame's 'date' column must hold datetime.date values")
    folder = Path(folder)
    paths = []
    ordered = frame.sort_values(["date", "ad_id"], kind="stable")
    for day, rows in ordered.groupby("date", sort=True):
        path = folder / f"{prefix}-{day.isoformat()}.csv"
        data = _export_text(rows).encode("utf-8")
        if not (path.exists() and path.read_bytes() == data):
            atomic_write_bytes(path, data)
        paths.append(path)
    return paths
