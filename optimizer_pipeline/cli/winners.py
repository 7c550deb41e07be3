"""``optimizer-pipeline winners``: search a client's stored winner index from the command line.

``--where`` takes ``column=value`` (a tag, text or number column equals it; ``a,b`` means either), ``column>=x`` /
``column<=x`` or the index's own ``min_<column>=x`` / ``max_<column>=x`` (so "question hooks with CTR >= 2 %" is
``--where hook=question --where 'ctr>=0.02'``). ``--like EXPERIMENT_ID`` ranks the other winners by the cosine
similarity of their standardised key features to that winner's (``lib/actions/winner_index.py``); without it they
are ranked by lift. Like ``influencer-status`` it runs outside Dagster: the home is ``--home``, else the one the
resources use (``OPTIMIZER_HOME`` / ``DAGSTER_HOME``), and the table is read through the IO manager's layout.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer_pipeline.lib.actions.winner_index import INDEX_COLUMNS, WinnerIndexError, search_winners
from optimizer_pipeline.lib.core.display_rounding import number_text

SHOWN = ["rank", "experiment_id", "winner", "similarity", "primary_metric", "lift", "ctr", "cvr", "hook",
         "pattern_hash", "duration_bucket", "creative_ids"]  # fmt: skip
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(>=|<=|=)\s*(.*?)\s*$")


class WinnersQueryError(ValueError):
    """A ``--where`` condition or ``--like`` experiment that cannot be used."""


def parse_where(conditions: Sequence[str]) -> dict[str, Any]:
    """``["hook=question", "ctr>=0.02"]`` → ``{"hook": "question", "min_ctr": 0.02}`` (the filters of
    :func:`~optimizer_pipeline.lib.actions.winner_index.search_winners`)."""
    filters: dict[str, Any] = {}
    for text in conditions:
        m = _CONDITION.match(text)
        if not m or not m.group(3):
            raise WinnersQueryError(f"--where {text!r}: expected column=value, column>=number or column<=number")
        column, op, value = m.groups()
        if op != "=":
            column = f"{'min' if op == '>=' else 'max'}_{column}"
        if column.startswith(("min_", "max_")):
            try:
                filters[column] = float(value)
            except ValueError:
                raise WinnersQueryError(f"--where {text!r}: {value!r} is not a number") from None
        else:
            parts = [p.strip() for p in value.split(",") if p.strip()]
            filters[column] = parts if len(parts) > 1 else parts[0]
    return filters


def query_winners(index: pd.DataFrame, filters: dict[str, Any], like: str | None, top: int) -> pd.DataFrame:
    """The ``top`` winners passing ``filters``, most similar to winner ``like`` first (itself left out)."""
    if like is None:
        return search_winners(index, filters=filters, k=top)
    features = [c for c in index.columns if c not in INDEX_COLUMNS]
    mine = index[index["experiment_id"] == like]
    if not len(mine):
        known = ", ".join(sorted(index["experiment_id"].astype(str))) or "(none)"
        raise WinnersQueryError(f"--like {like!r} is not a winner in the index; winners: {known}")
    if not features:
        raise WinnersQueryError("the index has no features to compare (no creative_dna when it was built)")
    query = {f: float(mine.iloc[0][f]) for f in features}
    found = search_winners(index, query, filters=filters, k=top + 1, features=features)
    found = found[found["experiment_id"] != like].head(top)
    return found.assign(rank=range(1, len(found) + 1))


def winners_text(found: pd.DataFrame) -> str:
    """The matches as a plain table (numbers rounded for display; no similarity column when nothing was compared),
    or a sentence when none matched."""
    if not len(found):
        return "no winner matches"
    shown = [c for c in SHOWN if c in found.columns and not (c == "similarity" and found[c].isna().all())]
    view = found[shown].copy()
    for c in view.columns:
        if pd.api.types.is_float_dtype(view[c]):
            view[c] = [number_text(v) for v in view[c]]
    return view.to_string(index=False)


def winners_report(home: str | Path, client: str, where: Sequence[str] = (), like: str | None = None,
                   top: int = 5) -> str:  # fmt: skip
    """What ``optimizer-pipeline winners`` prints for these arguments (the demo prints it too)."""
    from optimizer_pipeline.resources.parquet_io import read_asset

    index = read_asset(home, "winner_index", client)
    if index is None:
        raise WinnersQueryError(f"no winner_index stored for client {client!r} under {home} (materialise it first)")
    filters = parse_where(where)
    found = query_winners(index, filters, like, top)
    conditions = " and ".join(where) or "no filter"
    order = f"most similar to {like!r}" if like else "by lift"
    head = f"winners [{client}]: {len(found)} of {len(index)} ({conditions}; {order})"
    return f"{head}\n{winners_text(found)}"


def winners(args: argparse.Namespace) -> int:
    """Exit code 0 with the matches printed, 1 with the reason on stderr."""
    from optimizer_pipeline.defs.resources import data_home

    if args.top < 1:
        print("error: --top must be at least 1", file=sys.stderr)
        return 1
    try:
        print(winners_report(args.home or data_home(), args.client, args.where or [], args.like, args.top))
    except (WinnersQueryError, WinnerIndexError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
