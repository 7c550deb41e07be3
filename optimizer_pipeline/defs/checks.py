"""The pipeline's asset checks: one :class:`Invariant` per kind of check, giving both the ``AssetCheckSpec`` for an
asset's decorator and the ``AssetCheckResult`` its ``MaterializeResult`` carries. The rules themselves are the pure
predicates of ``lib/core/invariants.py``.

Severity policy (one home, here):

- Invariants that only a bug can break (accounting, tenant isolation, fixed schema / no NaN, posterior sanity) are
  ERROR and ``blocking``. The asset never raises for them: its data is still written, so the UI shows what was read
  and why the check failed, and Dagster then fails the step, which stops every downstream step of the same run.
- Signals about the data (too little of it, a model no better than its baseline) are WARN and not blocking.

Every check is partitioned like its asset (``AssetCheckSpec(partitions_def=...)``, a preview API in 1.13; its
``PreviewWarning`` is silenced in :meth:`Invariant.spec`, not globally): the UI shows each partition's result, and
``all_deps_blocking_checks_passed`` (in ``defs/automation.py``) gates each downstream partition on its own upstream
partition. With unpartitioned checks the latest evaluation of *any* partition would stand for all of them: verified
on 1.13, a failed check on client ``a`` followed by a passed one on client ``b`` let automation request the
downstream of both.

An ``@dg.asset`` with ``check_specs`` and a plain ``-> dg.MaterializeResult`` annotation gets its value typed
``Nothing`` in 1.13 (the annotation is spread over the asset and check outputs, ``op_definition.py``), so returning a
DataFrame fails the output type check; such assets declare ``dagster_type=CHECKED_VALUE``. Multi-assets that yield
are not affected (a generator's annotation is ignored).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import dagster as dg

from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core.invariants import Verdict


@dataclass(frozen=True)
class Invariant:
    """A named check with a fixed severity; ERROR checks block, WARN checks do not."""

    name: str
    severity: dg.AssetCheckSeverity
    meaning: str

    @property
    def blocking(self) -> bool:
        return self.severity == dg.AssetCheckSeverity.ERROR

    def spec(
        self, asset: str, partitions_def: dg.PartitionsDefinition, description: str | None = None
    ) -> dg.AssetCheckSpec:
        """The spec for ``asset`` (partitioned as the asset); ``description`` says what this asset's check compares."""
        text = f"{self.meaning} {description}" if description else self.meaning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.AssetCheckSpec(
                self.name, asset=asset, blocking=self.blocking, description=text, partitions_def=partitions_def
            )

    def result(self, asset: str, verdict: Verdict) -> dg.AssetCheckResult:
        """The verdict as a check result of ``asset`` (always named: a multi-asset has several); Dagster records the
        run's partition with it."""
        metadata: dict[str, Any] = {"reason": dg.MetadataValue.text(verdict.reason)}
        metadata |= {k: _metadata_value(v) for k, v in verdict.metadata.items()}
        return dg.AssetCheckResult(
            check_name=self.name,
            asset_key=asset,
            passed=verdict.passed,
            severity=self.severity,
            description=verdict.reason,
            metadata=display_metadata(metadata),
        )


def _metadata_value(value: Any) -> Any:
    """Lists and dicts as JSON, everything else as Dagster infers it (ints, floats, strings, bools)."""
    return dg.MetadataValue.json(value) if isinstance(value, list | dict) else value


#: The value type of an ``@dg.asset`` that has ``check_specs`` and returns ``dg.MaterializeResult`` (module docstring).
CHECKED_VALUE = dg.Any

_ERROR, _WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN

ACCOUNTING = Invariant(
    "accounting",
    _ERROR,
    "Every input item is counted in exactly one output (nothing lost, nothing counted twice). On failure the data "
    "is still written, so the counts can be inspected; downstream steps of the run are stopped.",
)
TENANT_ISOLATION = Invariant(
    "tenant_isolation", _ERROR, "No row of this client partition belongs to another client (or to no client)."
)
FIXED_SCHEMA = Invariant("fixed_schema", _ERROR, "The table has exactly the schema's columns, in schema order.")
NO_NAN = Invariant("no_nan", _ERROR, "No numeric feature is NaN or infinite (absent things are 0 with a has_* flag).")
POSTERIOR_SANITY = Invariant(
    "posterior_sanity",
    _ERROR,
    "Every Beta posterior is proper (alpha > 0, beta > 0), mean = alpha / (alpha + beta), 0 <= ci_low <= ci_high "
    "<= 1, and ci_low <= mean <= ci_high where alpha, beta >= 1 (a very skewed Beta's equal-tailed interval can "
    "legitimately exclude its mean; such rows are counted as skewed_rows).",
)
DECISION_VALIDITY = Invariant(
    "decision_validity",
    _ERROR,
    "Every look decides each running experiment exactly once, with a known decision, a winner exactly when it "
    "promotes, the lift inside its repeated interval and a confidence in [0, 1] (or none).",
)
WITHIN_LIMITS = Invariant(
    "within_limits",
    _ERROR,
    "Re-checked from the budget ledger alone: at most 15 calls per rolling hour and 100 per 24 h per ad account and "
    "per ad set, and no ad set's budget moved more than 20 % within 6 h or 50 % within 24 h.",
)
BEATS_BASELINE = Invariant(
    "beats_baseline",
    _WARN,
    "A fitted model beats the mean baseline on held-out creators: one-sided Nadeau-Bengio corrected repeated-CV "
    "t-test on per-fold paired MSE differences, Holm over the three regressors, alpha = 0.05, and positive pooled "
    "r2/rmse gains; when none does, the drivers are descriptive only. Passes when no model was fitted (see "
    "enough_data).",
)
ENOUGH_DATA = Invariant(
    "enough_data",
    _WARN,
    'The partition has enough data for an analysis; "insufficient data" is a warning, not a failure. The metadata '
    "carries the status text and the counts behind it.",
)
