"""The SafeExecutor's live sender: a budget change through the Meta Marketing API (``lib/ads/meta_adsets.py``).

Only this sender reaches Meta, and only when the executor is configured ``live``; it sets the ad set's absolute
``daily_budget`` (so a resend after a crash cannot apply a change twice) and returns the budget Meta confirms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from optimizer_pipeline.lib.ads.meta_adsets import MetaAdSetsConfig, update_daily_budget


class MetaBudgetSender:
    """``send(account, adset, budget)`` → the confirmed budget; ``config`` names the token and Graph URL, its
    ``account_id`` is replaced per call by the ad set's account."""

    mode = "live"

    def __init__(self, config: MetaAdSetsConfig, sleep: Callable[[float], None] | None = None) -> None:
        if not config.allow_writes:
            raise ValueError("the live sender needs a configuration with allow_writes=True")
        self.config = config
        self.sleep = sleep

    def send(self, account_id: str, adset_id: str, new_daily_budget: float) -> float:
        config = replace(self.config, account_id=account_id.removeprefix("act_"))
        if self.sleep is None:
            return update_daily_budget(config, adset_id, new_daily_budget)
        return update_daily_budget(config, adset_id, new_daily_budget, sleep=self.sleep)
