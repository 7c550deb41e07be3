"""How the SafeExecutor runs: dry (the default: the ledger records what would be sent, nothing reaches Meta) or
live (budget changes sent through the Marketing API), and the account ceilings. Live mode is an explicit setting
(``OPTIMIZER_BUDGET_MODE=live``, bound in ``defs/resources.py``); it also needs the Meta token."""

from __future__ import annotations

import dagster as dg

from optimizer_pipeline.lib.actions.budget_limits import BudgetLimits
from optimizer_pipeline.lib.actions.meta_sender import MetaBudgetSender
from optimizer_pipeline.lib.actions.safe_executor import DryRunSender, Sender
from optimizer_pipeline.lib.ads.meta_adsets import MetaAdSetsConfig
from optimizer_pipeline.resources.ads import MetaAdsSource

MODES = ("dry_run", "live")


class BudgetExecutor(dg.ConfigurableResource):
    """``home``: where the ledger lives (``<home>/data/budget_ledger/<client>.parquet``). ``mode``: dry_run | live.
    ``daily_ceiling``: the most an ad account may have in daily budgets in total
    (0 = no ceiling beyond the plans' own totals)."""

    home: str
    mode: str = "dry_run"
    daily_ceiling: float = 0.0
    seed: int = 0

    def limits(self) -> BudgetLimits:
        if self.daily_ceiling > 0:
            return BudgetLimits(daily_ceiling=self.daily_ceiling)
        return BudgetLimits()

    def sender(self, meta: MetaAdsSource, account_id: str) -> Sender:
        """The dry-run sender, or the live Meta sender (which needs ``OPTIMIZER_META_ACCESS_TOKEN``)."""
        if self.mode not in MODES:
            raise ValueError(f"budget mode must be one of {MODES}, got {self.mode!r} (OPTIMIZER_BUDGET_MODE)")
        if self.mode == "dry_run":
            return DryRunSender()
        if not meta.access_token:
            raise ValueError("live budget mode needs OPTIMIZER_META_ACCESS_TOKEN")
        config = MetaAdSetsConfig(
            account_id=account_id.removeprefix("act_"),
            access_token=meta.access_token,
            app_secret=meta.app_secret or None,
            api_version=meta.api_version or None,
            graph_url=meta.graph_url,
            allow_writes=True,
        )
        return MetaBudgetSender(config)
