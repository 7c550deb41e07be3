"""Winner insights: why each standing winner won, in words, from Claude when configured and checked against the
evidence, else the deterministic winner-vs-loser comparison.

Why this shape: a marketer reads "what made this creative win" better as two or three sentences than as a table,
and a language model words that well; but it must not add facts. So each winner's *evidence* (every number the
decision tables, the creative DNA and the winner's-curse shrinkage hold about it, with the names and dates it may
cite) is sent to Claude through the real ``anthropic`` SDK client, and its answer is accepted only if every number
in it is an evidence number within display rounding (:mod:`.insight_check`). Otherwise (a wrong number, an empty
answer, an API error) the text is the deterministic :func:`~.winner_summary.winner_vs_loser`, and the reason is
recorded beside it with the rejected draft. Without a writer the deterministic text is used and nothing is sent.

Reruns: a row whose evidence (hash over the evidence, the model and :data:`PROMPT_VERSION`) is unchanged is carried
over from the previous table without a request, so a rerun neither pays again nor changes a text. The API key only
goes to the SDK client; error texts are scrubbed of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
import pandas as pd

from optimizer_pipeline.lib.actions.insight_check import check_numbers
from optimizer_pipeline.lib.actions.promotion_history import promotion_history
from optimizer_pipeline.lib.actions.winner_summary import winner_vs_loser
from optimizer_pipeline.lib.decisions.experiment_registry import METRIC_RATIOS
from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY
from optimizer_pipeline.lib.features.labels.anthropic_pricing import PRICES_USD_PER_MTOK, ModelPrice, TokenSpend
from optimizer_pipeline.lib.testloop.pattern_hash import ATTRIBUTES, PATTERN_TAGS

log = logging.getLogger(__name__)

__all__ = [
    "INSIGHT_COLUMNS", "PROMPT_VERSION", "AnthropicInsightWriter", "Draft", "Evidence", "InsightWriter",
    "standing_winners", "winner_evidence", "winner_insights",
]  # fmt: skip

PROMPT_VERSION = "winner-insights-v1"
#: ``source`` of a row: Claude's text accepted, the deterministic text (no writer), or the deterministic text after
#: Claude's draft was rejected or failed.
CLAUDE, DETERMINISTIC, REJECTED = "claude", "deterministic", "deterministic (claude rejected)"
FAILED = "Claude failed"
# fmt: off
INSIGHT_COLUMNS: list[str] = [
    "experiment_id", "winner", "primary_metric", "decided_at", "insight", "source", "model", "rejection_reason",
    "llm_draft", "evidence_sha256", "input_tokens", "output_tokens", "cost_usd",
]
# fmt: on
_ARM_NUMBERS = ("metric_value", "units", "impressions", "clicks", "conversions", "spend", "revenue")
_PROMO_NUMBERS = ("lift", "lift_low", "lift_high", "confidence", "chance_to_win", "look_index")
_SHRUNK = ("lift_shrunk", "lift_shrunk_low", "lift_shrunk_high", "shrinkage")
_ALIASES = dict(PATTERN_TAGS)
SYSTEM_PROMPT = (
    "You explain to a marketer why an ad variant won an A/B test of ads. Use only the evidence given as JSON. "
    "Every number you write must be one of the evidence numbers, as given or rounded (fractions may be written as "
    "percentages, e.g. 0.123 as 12.3 %); never compute a new number (no differences, sums or ratios that are not "
    "in the evidence) and name dates only as given. Mention the lift with its interval, the shrunk lift when it is "
    "given (promoted lifts are biased upward: the winner's curse), and the creative differences. Two to four "
    "sentences of plain text, no Markdown, no lists."
)


@dataclass(frozen=True)
class Evidence:
    """What a text about one winner may say: named numbers, names (ids, variants, tags, feature phrases) and dates."""

    experiment_id: str
    winner: str
    primary_metric: str
    decided_at: pd.Timestamp
    numbers: dict[str, float]
    names: tuple[str, ...]
    dates: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> str:
        """The evidence as sent to the model (and hashed): numbers in full precision, sorted keys."""
        body = {
            "experiment_id": self.experiment_id,
            "winner": self.winner,
            "primary_metric": self.primary_metric,
            "decided_at": self.dates[0] if self.dates else "",
            "numbers": {k: _plain(v) for k, v in sorted(self.numbers.items())},
            "facts": self.facts,
        }
        return json.dumps(body, sort_keys=True, default=str)

    def sha256(self, model: str) -> str:
        """Hash of the evidence, the model and the prompt version: an unchanged hash needs no new request."""
        return hashlib.sha256(f"{PROMPT_VERSION}\n{model}\n{self.as_json()}".encode()).hexdigest()


def _plain(v: float) -> float | None:
    return float(f"{v:.10g}") if math.isfinite(v) else None


@dataclass(frozen=True)
class Draft:
    """A writer's answer: the text (empty on failure), what it cost and the error, scrubbed of secrets."""

    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    error: str = ""


InsightWriter = Callable[[Evidence], Draft]


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _when(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%d %H:%M")


def winner_evidence(
    experiment_id: str,
    decisions: pd.DataFrame,
    variants: pd.DataFrame,
    dna: pd.DataFrame | None = None,
    features: Sequence[str] = (),
    shrunk: Mapping[str, float] | None = None,
) -> Evidence:
    """The evidence about the latest promotion of ``experiment_id``: its deciding row (lift, interval, confidence,
    chance to win, look), every arm's counts and metric at that look, the winner's relative difference to each
    other arm, the arms' creative DNA (tags, bucket, ``features``) and ``shrunk`` (the winner's-curse shrinkage of
    :mod:`.compound_learning`: ``lift_shrunk``...)."""
    exp = decisions[decisions["experiment_id"] == experiment_id]
    history = promotion_history(exp, variants)
    if not len(history):
        raise ValueError(f"experiment '{experiment_id}' has no promotion")
    p = history.iloc[-1]
    winner, metric = str(p["winner"]), str(p["primary_metric"])
    numbers: dict[str, float] = {f"promotion.{c}": float(p[c]) for c in _PROMO_NUMBERS}
    vt = variants[variants["experiment_id"] == experiment_id]
    arms = vt[_utc(vt["look_at"]) == p["decided_at"]].set_index("variant")
    for arm, row in arms.iterrows():
        for c in _ARM_NUMBERS:
            if c in arms.columns:
                numbers[f"{arm}.{c}"] = float(row[c])
        for m, (num, den) in METRIC_RATIOS.items():
            if num in arms.columns and den in arms.columns and float(row[den]) > 0:
                numbers[f"{arm}.{m}"] = float(row[num]) / float(row[den])
    if winner in arms.index:
        wv = float(arms.at[winner, "metric_value"])
        for arm, row in arms.drop(index=winner).iterrows():
            mv = float(row["metric_value"])
            if mv > 0:
                numbers[f"{winner}_vs_{arm}.relative_difference"] = wv / mv - 1
    numbers["arms"] = float(len(arms))
    for k, v in (shrunk or {}).items():
        numbers[f"shrunk.{k}"] = float(v)
    names = {experiment_id, *map(str, arms.index), winner}
    facts: dict[str, Any] = {"hypothesis_metric": metric, "standing": bool(p["standing"])}
    if dna is not None and len(dna):
        frame = dna.rename(columns={f: t for f, t in _ALIASES.items() if f in dna.columns})
        mine = frame[frame["experiment_id"] == experiment_id].set_index("variant")
        for arm, row in mine.iterrows():
            tags = {t: str(row[t]) for t in ATTRIBUTES if t in mine.columns and pd.notna(row[t])}
            bucket = str(row["duration_bucket"]) if "duration_bucket" in mine.columns else ""
            facts[f"{arm}.creative"] = {**tags, "duration_bucket": bucket}
            names |= {*tags.values(), bucket, str(row.get("creative_ids", "") or "")}
            names |= {c.strip() for c in str(row.get("creative_ids", "") or "").split(",")}
            for f in ("duration_s", *features):
                if f in mine.columns and pd.notna(row[f]):
                    numbers[f"{arm}.{f}"] = float(row[f])
        names |= {FEATURE_DICTIONARY[f].phrase for f in features if f in FEATURE_DICTIONARY}
    dates = [_when(p["decided_at"])]
    if pd.notna(p["reversed_at"]):
        dates.append(_when(p["reversed_at"]))
    return Evidence(
        experiment_id, winner, metric, p["decided_at"], numbers, tuple(sorted(n for n in names if n)), tuple(dates),
        facts,
    )  # fmt: skip


class AnthropicInsightWriter:
    """Asks Claude for a winner insight through the real ``anthropic`` SDK client (one request per call; the SDK
    retries 429 / 5xx ``max_retries`` times); never raises for an API failure: the draft carries the error."""

    def __init__(
        self,
        api_key: str,
        model: str,
        base_url: str | None = None,
        *,
        max_retries: int = 2,
        timeout_s: float = 60.0,
        max_tokens: int = 600,
        prices: Mapping[str, ModelPrice] | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        self.model = model
        self.max_tokens = max_tokens
        self.prices = dict(PRICES_USD_PER_MTOK if prices is None else prices)
        self._secret = api_key
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout_s
        )

    def __repr__(self) -> str:
        return f"AnthropicInsightWriter(model={self.model!r})"

    def __call__(self, evidence: Evidence) -> Draft:
        spent = TokenSpend(attempts=1)
        try:
            message = self._client.messages.create(
                model=self.model,
                max_tokens=self.max_tokens,
                system=SYSTEM_PROMPT,
                messages=[{"role": "user", "content": f"Evidence:\n{evidence.as_json()}"}],
            )
        except anthropic.APIStatusError as exc:
            return Draft("", self.model, error=self._scrub(f"HTTP {exc.status_code}: {exc.type or ''} {exc.message}"))
        except anthropic.APIConnectionError as exc:
            return Draft("", self.model, error=self._scrub(f"could not reach the Anthropic API: {exc.message}"))
        except Exception as exc:  # an insight failure must not stop the asset: the deterministic text stands
            return Draft("", self.model, error=self._scrub(f"unexpected {type(exc).__name__}: {exc}"))
        spent.add(getattr(message, "usage", None))
        text = " ".join(getattr(b, "text", "") for b in message.content if getattr(b, "type", "") == "text").strip()
        return Draft(
            text,
            self.model,
            spent.input_tokens,
            spent.output_tokens,
            spent.cost_usd(self.prices.get(self.model)),
            "" if text else f"no text in the reply (stop_reason={message.stop_reason})",
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if self._secret else text


def standing_winners(decisions: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """The latest standing variant promotion of each experiment (control wins and reversed promotions left out)."""
    history = promotion_history(decisions, variants)
    keep = history["standing"].astype(bool) & ~history["winner_is_control"].fillna(False).astype(bool)
    standing = history[keep].sort_values("decided_at", kind="stable")
    return standing.drop_duplicates("experiment_id", keep="last").reset_index(drop=True)


def winner_insights(
    decisions: pd.DataFrame,
    variants: pd.DataFrame,
    *,
    dna: pd.DataFrame | None = None,
    features: Sequence[str] = (),
    shrunk: pd.DataFrame | None = None,
    writer: InsightWriter | None = None,
    model: str = "",
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per standing winner (:data:`INSIGHT_COLUMNS`): Claude's text when ``writer`` is given and its answer
    passes :func:`.insight_check.check_numbers`, else :func:`.winner_summary.winner_vs_loser` with the reason.
    ``shrunk``: the ``compound_learning`` promotions table (its shrunk lifts become evidence); ``previous``: the
    last table, whose rows with an unchanged evidence hash are reused without a request."""
    reuse = {}
    if previous is not None and len(previous):
        reuse = {
            (r["experiment_id"], r["evidence_sha256"]): r
            for r in previous.to_dict("records")
            if not str(r["rejection_reason"]).startswith(FAILED)  # a failed request is tried again
        }
    shrink = shrunk.set_index("experiment_id") if shrunk is not None and len(shrunk) else None
    rows = []
    for _, p in standing_winners(decisions, variants).iterrows():
        exp_id = str(p["experiment_id"])
        extra = (
            {c: float(shrink.at[exp_id, c]) for c in _SHRUNK} if shrink is not None and exp_id in shrink.index else None
        )
        evidence = winner_evidence(exp_id, decisions, variants, dna, features, extra)
        key = evidence.sha256(model if writer is not None else "")
        if (exp_id, key) in reuse:
            rows.append(reuse[(exp_id, key)])
            continue
        fallback = winner_vs_loser(exp_id, decisions, variants, dna, features)
        row: dict[str, Any] = {
            "experiment_id": exp_id,
            "winner": evidence.winner,
            "primary_metric": evidence.primary_metric,
            "decided_at": evidence.decided_at,
            "insight": fallback,
            "source": DETERMINISTIC,
            "model": "",
            "rejection_reason": "",
            "llm_draft": "",
            "evidence_sha256": key,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": math.nan,
        }
        if writer is not None:
            draft = writer(evidence)
            verdict = check_numbers(draft.text, evidence.numbers, names=evidence.names, dates=evidence.dates)
            row |= {
                "model": draft.model,
                "llm_draft": draft.text,
                "input_tokens": draft.input_tokens,
                "output_tokens": draft.output_tokens,
                "cost_usd": math.nan if draft.cost_usd is None else draft.cost_usd,
            }
            if draft.error:
                row |= {"source": REJECTED, "rejection_reason": f"{FAILED}: {draft.error}"}
            elif verdict.accepted:
                row |= {"insight": draft.text, "source": CLAUDE}
            else:
                row |= {"source": REJECTED, "rejection_reason": verdict.reason}
            if row["source"] != CLAUDE:
                log.info("winner insight for %s: deterministic text used (%s)", exp_id, row["rejection_reason"])
        rows.append(row)
    out = pd.DataFrame(rows, columns=INSIGHT_COLUMNS)
    out["decided_at"] = pd.to_datetime(out["decided_at"], utc=True)
    for c in ("input_tokens", "output_tokens"):
        out[c] = out[c].astype("int64")
    out["cost_usd"] = out["cost_usd"].astype(float)
    return out
