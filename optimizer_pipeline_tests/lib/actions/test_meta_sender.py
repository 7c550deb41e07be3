"""The SafeExecutor's live sender through the real ``facebook-business`` SDK against the local Graph server: the
executor's call sets the ad set's daily budget and returns what Meta confirms; it refuses to exist without an
explicit write permission."""

from datetime import UTC, datetime

import numpy as np
import pytest

from optimizer_pipeline.lib.actions.budget_ledger import BudgetLedger
from optimizer_pipeline.lib.actions.budget_limits import BudgetLimits
from optimizer_pipeline.lib.actions.budget_plans import BudgetPlan, PlanStep
from optimizer_pipeline.lib.actions.meta_sender import MetaBudgetSender
from optimizer_pipeline.lib.actions.safe_executor import SafeExecutor
from optimizer_pipeline.lib.ads.meta_adsets import MetaAdSetsConfig
from optimizer_pipeline_tests.meta_graph_server import DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, MetaGraphServer, adset_objects


def _config(url: str, *, writes: bool) -> MetaAdSetsConfig:
    return MetaAdSetsConfig(DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, graph_url=url, allow_writes=writes)


def test_the_executor_moves_a_real_budget_through_the_sdk() -> None:
    adsets = adset_objects()
    adset = next(a for a, v in adsets.items() if v.get("learning_stage_info", {}).get("status") == "SUCCESS")
    before = int(adsets[adset]["daily_budget"]) / 100
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)
    plan = BudgetPlan(
        plan_id="bp-test", client="c", experiment_id="e", look_at=now.isoformat(), decided_at=now.isoformat(),
        winner="b", status="ready", reason="promote b", explanation="", confidence=0.95, metrics="{}",
        accounts={adset: f"act_{DEFAULT_ACCOUNT_ID}"}, before={adset: before},
        steps=(PlanStep(0, now, 0.6, {adset: round(before * 1.1, 2)}),),
    )  # fmt: skip
    with MetaGraphServer([], adsets=adsets) as graph:
        sender = MetaBudgetSender(_config(graph.url, writes=True), sleep=lambda _s: None)
        ledger = BudgetLedger()
        safe = SafeExecutor(BudgetLimits(), lambda: now, np.random.default_rng(0), sender, sleep=lambda _s: None)
        safe.run(ledger, [plan], {adset: before})
        executed = ledger.rows().query("status == 'executed'")
        assert len(executed) == 1 and set(executed["mode"]) == {"live"}
        after = float(executed["after"].iloc[0])
        assert int(graph.adsets[adset]["daily_budget"]) == round(after * 100)  # Meta now holds the ledger's value
        assert abs(after / before - 1.1) <= 0.03 * 1.1 + 0.01 and round(after * 100) % 25 != 0
        posts = [r for r in graph.requests if r.method == "POST"]
        assert len(posts) == 1 and DEFAULT_TOKEN not in str(posts[0].form)


def test_the_live_sender_needs_an_explicit_write_permission() -> None:
    with pytest.raises(ValueError, match="allow_writes"):
        MetaBudgetSender(_config("http://127.0.0.1:9", writes=False))
