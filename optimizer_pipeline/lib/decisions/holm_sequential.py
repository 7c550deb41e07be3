"""Several variants against one control, each tested at every look: Holm's step-down over group-sequential designs.

Closure principle with Bonferroni-weighted sequential intersection tests (Maurer & Bretz 2013, "Multiple testing in
group sequential trials using graphical approaches", Stat Biopharm Res 5:311-320; Ye, Li, Jiang & Wang 2013, "Group
sequential Holm and Hochberg procedures", Stat Med 32:1112-1124): each variant's own design
(:mod:`.group_sequential`) at level ``alpha / h`` with ``h`` = hypotheses not yet rejected, a variant rejected if its
z crossed that design's boundary at any look so far. Valid because boundaries fall as the level rises (checked for
both spending functions at alpha/1 ... alpha/5 on a 120-look schedule in the tests). Pure numpy, no Dagster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from optimizer_pipeline.lib.decisions.group_sequential import (
    SequentialInputError,
    SequentialPlan,
    Spending,
    sequential_look,
)


@dataclass(frozen=True)
class HolmLook:
    """Holm step-down over variants at the latest look: per variant the level and boundary it is tested at."""

    reject: tuple[bool, ...]
    level: tuple[float, ...]
    boundary: tuple[float, ...]
    plans: dict[tuple[int, int], SequentialPlan]


def holm_sequential(
    histories: Sequence[Sequence[tuple[float, float, float]]],
    alpha: float,
    spending: Spending = "obf",
    plans: Mapping[tuple[int, int], SequentialPlan] | None = None,
) -> HolmLook:
    """Group-sequential Holm over m variants vs one control (Ye et al. 2013; Maurer & Bretz 2013).

    With ``h`` hypotheses not yet rejected, each remaining variant is tested with its own design at level
    ``alpha / h`` (same spending, its own information) and rejected if its z crossed that design's boundary at any
    look so far; rejections free alpha for the rest, step by step. Closed testing with weighted Bonferroni
    sequential intersection tests, so the family-wise error is <= alpha under any configuration of true nulls.
    ``plans`` caches each (variant, h) design between looks (pass back ``HolmLook.plans``).
    """
    m = len(histories)
    if m == 0:
        raise SequentialInputError("histories has no variant")
    cache: dict[tuple[int, int], SequentialPlan] = dict(plans or {})
    arrays = [np.asarray(h, dtype=float) for h in histories]

    def crossed(j: int, h: int) -> tuple[bool, float]:
        look = sequential_look(histories[j], alpha / h, spending, plan=cache.get((j, h)))
        cache[(j, h)] = look.plan
        return bool(np.any(np.abs(arrays[j][:, 2]) >= np.asarray(look.plan.boundaries))), look.boundary

    rejected: set[int] = set()
    level, bound = [alpha / m] * m, [math.inf] * m
    while len(rejected) < m:
        h = m - len(rejected)
        new = set()
        for j in set(range(m)) - rejected:
            hit, c = crossed(j, h)
            level[j], bound[j] = alpha / h, c
            if hit:
                new.add(j)
        if not new:
            break
        rejected |= new
    return HolmLook(tuple(j in rejected for j in range(m)), tuple(level), tuple(bound), cache)
