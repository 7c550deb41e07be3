"""The budget ledger: one row per planned, executed, failed, deferred or rolled-back budget change of a client.

Why: the SafeExecutor writes the ledger *before* it calls the platform and again after (write-ahead logging, as in
database recovery: Mohan et al. 1992, ARIES), so every call has an audit row even if the process dies mid-run, a
rerun finds what was already applied (idempotency keys), and anyone can re-check the limits from the rows alone.
The file is ``<home>/data/budget_ledger/<client>.parquet``; rows are only ever appended (the whole file is rewritten
atomically with :func:`write_parquet_atomic`, existing rows unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer_pipeline.lib.core.atomic_files import write_parquet_atomic

#: planned: about to be sent (ledger first); executed / rolled_back: confirmed by the sender (a plan step / a
#: rollback step); failed: the sender raised (retried next run); deferred: a rate limit or the ceiling allowed no
#: move now (retried next run); refused: the executor will not send it (the reason says why).
STATUSES: tuple[str, ...] = ("planned", "executed", "rolled_back", "refused", "failed", "deferred")
MODES: tuple[str, ...] = ("dry_run", "live")
#: Column → pandas dtype.
LEDGER_DTYPES: dict[str, str] = {
    "client": "string",
    "account_id": "string",
    "adset_id": "string",
    "at": "datetime64[us, UTC]",
    "before": "float64",
    "after": "float64",
    "wanted": "float64",  # the step's target before limits and fuzz
    "status": "string",
    "plan_id": "string",
    "step": "int64",  # plan step index; -1 for a rollback
    "part": "int64",  # the n-th call of this (plan, step, ad set): a step split by the limits takes several
    "idempotency_key": "string",  # plan_id/step/adset_id/part
    "experiment_id": "string",
    "look_at": "string",  # the decision served (ISO time of its look)
    "reason": "string",
    "limit": "string",  # the limit that shaped the move ("" when none did); names in budget_limits.LIMIT_WORDS
    "explanation": "string",
    "confidence": "float64",
    "metrics": "string",  # JSON of the decision's numbers (lift, interval, ...)
    "mode": "string",
}
LEDGER_COLUMNS: tuple[str, ...] = tuple(LEDGER_DTYPES)


class BudgetLedgerError(ValueError):
    """Ledger rows that do not fit the schema (the message names the column or value)."""


def ledger_path(home: str | Path, client: str) -> Path:
    """``<home>/data/budget_ledger/<client>.parquet``."""
    return Path(home) / "data" / "budget_ledger" / f"{client}.parquet"


def empty_ledger() -> pd.DataFrame:
    """A ledger with no rows and the schema's dtypes."""
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in LEDGER_DTYPES.items()})


def as_ledger(rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Rows → a ledger frame with the schema's columns and dtypes; unknown or missing columns and bad values raise."""
    frame = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows
    if not len(frame):
        return empty_ledger()
    missing = [c for c in LEDGER_COLUMNS if c not in frame.columns]
    extra = [c for c in frame.columns if c not in LEDGER_DTYPES]
    if missing or extra:
        raise BudgetLedgerError(f"ledger rows: missing columns {missing}, unknown columns {extra}")
    bad = sorted(set(frame["status"]) - set(STATUSES))
    if bad:
        raise BudgetLedgerError(f"ledger rows: unknown status {bad}; expected one of {STATUSES}")
    bad = sorted(set(frame["mode"]) - set(MODES))
    if bad:
        raise BudgetLedgerError(f"ledger rows: unknown mode {bad}; expected one of {MODES}")
    out = frame[list(LEDGER_COLUMNS)].copy()
    out["at"] = pd.to_datetime(out["at"], utc=True)
    return out.astype(LEDGER_DTYPES)


class BudgetLedger:
    """A client's ledger: in memory when ``path`` is None (tests, previews), else the Parquet file at ``path``."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        if self.path is not None and self.path.exists():
            self._rows = as_ledger(pd.read_parquet(self.path))
        else:
            self._rows = empty_ledger()

    def rows(self) -> pd.DataFrame:
        """Every row so far, in the order written."""
        return self._rows.copy()

    def append(self, rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> None:
        """Add rows at the end (written to disk atomically before returning)."""
        new = as_ledger(rows)
        if not len(new):
            return
        both = pd.concat([self._rows, new], ignore_index=True) if len(self._rows) else new.reset_index(drop=True)
        if self.path is not None:
            write_parquet_atomic(both, self.path)
        self._rows = both.astype(LEDGER_DTYPES)


def read_ledger(home: str | Path, client: str) -> pd.DataFrame:
    """The client's ledger rows (empty with the schema when there is no file yet)."""
    return BudgetLedger(ledger_path(home, client)).rows()
