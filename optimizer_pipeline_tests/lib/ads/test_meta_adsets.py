"""Meta ad sets (read, budget write) through the real ``facebook-business`` SDK against a Graph fake on 127.0.0.1.

Nothing of the SDK is patched: the session's ``GRAPH`` URL points at the local server, which speaks the Graph wire
format (node GET with ``fields``, form-encoded POST, error envelopes, the usage header). Sleeps are recorded.
"""

from __future__ import annotations

import math
import traceback

import pytest

from optimizer_pipeline.lib.ads.meta_adsets import (
    AdSetState,
    MetaAdSetError,
    MetaAdSetInputError,
    MetaAdSetPermissionError,
    MetaAdSetsConfig,
    MetaBudgetNotConfirmedError,
    MetaBudgetRejectedError,
    MetaWritesDisabledError,
    from_minor_units,
    read_adsets,
    to_minor_units,
    update_daily_budget,
)
from optimizer_pipeline_tests.meta_graph_server import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_TOKEN,
    GraphError,
    MetaGraphServer,
    adset_objects,
    permission_error,
    rate_limit_error,
    server_error,
)

IDS = ["23840000001", "23840000002", "23840000003", "23840000004"]
LEARNING = "23840000001"


@pytest.fixture
def graph() -> MetaGraphServer:
    with MetaGraphServer([], adsets=adset_objects()) as server:
        yield server


def _config(server: MetaGraphServer, **kw: object) -> MetaAdSetsConfig:
    kw.setdefault("allow_writes", True)
    return MetaAdSetsConfig(DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, graph_url=server.url, **kw)  # type: ignore[arg-type]


def _shown(err: BaseException) -> str:
    return "".join(traceback.format_exception(err)) + repr(err)


def test_reads_budgets_in_major_units_and_the_learning_phase(graph: MetaGraphServer) -> None:
    sleeps: list[float] = []
    states = read_adsets(_config(graph), IDS, sleep=sleeps.append)
    assert states == [
        AdSetState(LEARNING, "prospecting", DEFAULT_ACCOUNT_ID, 25.0, "ACTIVE", "LEARNING", True),
        AdSetState("23840000002", "retargeting", DEFAULT_ACCOUNT_ID, 100.5, "ACTIVE", "SUCCESS", False),
        AdSetState("23840000003", "broad", DEFAULT_ACCOUNT_ID, 7.99, "ACTIVE", "FAIL", False),
        AdSetState("23840000004", "paused", DEFAULT_ACCOUNT_ID, 10.0, "PAUSED", None, False),  # no learning info
    ]
    assert sleeps == [] and [r.method for r in graph.requests] == ["GET"] * 4
    first = graph.requests[0]
    assert first.path == f"/v26.0/{LEARNING}/"  # the SDK requests node paths with a trailing slash
    assert set(first.query["fields"].split(",")) == {
        "id",
        "name",
        "account_id",
        "daily_budget",
        "effective_status",
        "learning_stage_info",
    }


def test_ad_set_without_a_daily_budget_reads_none(graph: MetaGraphServer) -> None:
    del graph.adsets[LEARNING]["daily_budget"]  # lifetime or campaign budget: Graph omits the field
    (state,) = read_adsets(_config(graph), [LEARNING], sleep=lambda s: None)
    assert state.daily_budget is None and state.in_learning


def test_update_posts_minor_units_and_returns_the_read_back_value(graph: MetaGraphServer) -> None:
    sleeps: list[float] = []
    confirmed = update_daily_budget(_config(graph), LEARNING, 30.5, sleep=sleeps.append)
    assert confirmed == 30.5 and sleeps == []
    post, read_back = graph.requests
    assert post.method == "POST" and post.path == f"/v26.0/{LEARNING}/"
    assert post.form == {"daily_budget": "3050"}  # the token travels in the query, not in the form
    assert read_back.method == "GET" and "daily_budget" in read_back.query["fields"]
    assert graph.adsets[LEARNING]["daily_budget"] == "3050"
    assert read_adsets(_config(graph), [LEARNING], sleep=lambda s: None)[0].daily_budget == 30.5
    assert graph.adsets["23840000002"]["daily_budget"] == "10050"  # no other ad set touched


def test_zero_decimal_currency_offset(graph: MetaGraphServer) -> None:
    config = _config(graph, currency_offset=1)  # JPY, KRW: Graph's integer is the amount itself
    assert read_adsets(config, [LEARNING], sleep=lambda s: None)[0].daily_budget == 2500.0
    assert update_daily_budget(config, LEARNING, 3000, sleep=lambda s: None) == 3000.0
    assert graph.requests[1].form == {"daily_budget": "3000"}


@pytest.mark.parametrize(("code", "regain", "expected"), [(17, 2, (120.0, 120.0)), (613, 0, (1.0, 2.0))])
def test_rate_limited_write_waits_then_succeeds(
    graph: MetaGraphServer, code: int, regain: int, expected: tuple[float, float]
) -> None:
    graph.inject(rate_limit_error(code, regain_minutes=regain))
    sleeps: list[float] = []
    assert update_daily_budget(_config(graph), LEARNING, 40.0, sleep=sleeps.append) == 40.0
    assert len(sleeps) == 1 and expected[0] <= sleeps[0] <= expected[1]  # usage header's minutes, else 2 s x jitter
    assert [r.method for r in graph.requests] == ["POST", "POST", "GET"]
    assert graph.adsets[LEARNING]["daily_budget"] == "4000"


def test_ad_account_throttle_80000_on_read_then_success(graph: MetaGraphServer) -> None:
    graph.inject(rate_limit_error(80000), rate_limit_error(80000), after=1)  # second ad set throttled twice
    sleeps: list[float] = []
    states = read_adsets(_config(graph), IDS[:2], sleep=sleeps.append)
    assert [s.id for s in states] == IDS[:2] and len(sleeps) == 2 and len(graph.requests) == 4


@pytest.mark.parametrize(
    "error", [server_error(500), GraphError(502, None, "Bad Gateway", html=True)], ids=["500", "502-html"]
)
def test_5xx_on_write_then_success(graph: MetaGraphServer, error: GraphError) -> None:
    graph.inject(error)
    sleeps: list[float] = []
    assert update_daily_budget(_config(graph), LEARNING, 12.34, sleep=sleeps.append) == 12.34
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 2.0
    assert graph.adsets[LEARNING]["daily_budget"] == "1234"


def test_permission_error_fails_at_once_naming_the_ad_set_not_the_token(graph: MetaGraphServer) -> None:
    graph.inject(permission_error())
    sleeps: list[float] = []
    with pytest.raises(MetaAdSetPermissionError) as caught:
        update_daily_budget(_config(graph), LEARNING, 50.0, sleep=sleeps.append)
    err = caught.value
    assert sleeps == [] and len(graph.requests) == 1 and err.code == 200 and err.http_status == 403
    text = str(err)
    assert f"Meta ad set {LEARNING}" in text and "Requires ads_management permission" in text
    assert err.__cause__ is None and err.__context__ is None
    assert DEFAULT_TOKEN not in _shown(err) and "access_token" not in _shown(err)
    assert graph.adsets[LEARNING]["daily_budget"] == "2500"


def test_permission_error_on_read_and_wrong_token(graph: MetaGraphServer) -> None:
    graph.inject(permission_error("ads_read"))
    with pytest.raises(MetaAdSetPermissionError, match=rf"ad set {LEARNING} .*code 200.*ads_read"):
        read_adsets(_config(graph), [LEARNING], sleep=lambda s: None)
    wrong = MetaAdSetsConfig(DEFAULT_ACCOUNT_ID, "EAAwrongtoken", graph_url=graph.url, allow_writes=True)
    with pytest.raises(MetaAdSetPermissionError, match="code 190") as caught:
        update_daily_budget(wrong, LEARNING, 50.0, sleep=lambda s: None)
    assert "EAAwrongtoken" not in _shown(caught.value)


def test_budget_below_the_minimum_is_rejected_clearly(graph: MetaGraphServer) -> None:
    sleeps: list[float] = []
    with pytest.raises(MetaBudgetRejectedError) as caught:
        update_daily_budget(_config(graph), LEARNING, 0.5, sleep=sleeps.append)  # server minimum: 100 minor units
    err = caught.value
    assert err.code == 100 and err.subcode == 1885272 and sleeps == [] and len(graph.requests) == 1
    text = str(err)
    assert f"ad set {LEARNING}" in text and "daily_budget -> 0.50 (50 minor units)" in text
    assert "Your Budget Is Too Low" in text and "minimum budget for this ad set is 1.00" in text
    assert graph.adsets[LEARNING]["daily_budget"] == "2500"


def test_clamped_write_is_not_confirmed() -> None:
    asked = r"asked daily_budget 80.00 \(8000 minor units\).*reads back '5000'"
    with (
        MetaGraphServer([], adsets=adset_objects(), clamp_daily_budget=5000) as graph,
        pytest.raises(MetaBudgetNotConfirmedError, match=asked) as caught,
    ):
        update_daily_budget(_config(graph), LEARNING, 80.0, sleep=lambda s: None)
    assert caught.value.confirmed == 50.0


def test_unknown_ad_set_is_a_permanent_error_not_a_permission_error(graph: MetaGraphServer) -> None:
    with pytest.raises(MetaAdSetError, match=r"ad set 999 .*code 100, subcode 33.*does not exist") as caught:
        read_adsets(_config(graph), ["999"], sleep=lambda s: None)
    assert not isinstance(caught.value, MetaAdSetPermissionError) and len(graph.requests) == 1


def test_throttle_longer_than_max_wait_and_gave_up(graph: MetaGraphServer) -> None:
    graph.inject(rate_limit_error(4, regain_minutes=30))
    sleeps: list[float] = []
    with pytest.raises(MetaAdSetError, match=r"code 4.*throttled for 30 min, longer than max_wait_s"):
        update_daily_budget(_config(graph, max_wait_s=600), LEARNING, 45.0, sleep=sleeps.append)
    assert sleeps == [] and graph.adsets[LEARNING]["daily_budget"] == "2500"
    graph.inject(*[rate_limit_error(17)] * 3)
    with pytest.raises(MetaAdSetError, match=r"code 17.*gave up after 3 attempts"):
        read_adsets(_config(graph, max_attempts=3), [LEARNING], sleep=sleeps.append)
    assert len(sleeps) == 2


def test_writes_need_the_explicit_setting(graph: MetaGraphServer) -> None:
    with pytest.raises(MetaWritesDisabledError, match=rf"ad set {LEARNING}.*allow_writes=True"):
        update_daily_budget(_config(graph, allow_writes=False), LEARNING, 30.0, sleep=lambda s: None)
    assert graph.requests == [] and graph.adsets[LEARNING]["daily_budget"] == "2500"


def test_minor_unit_conversion() -> None:
    assert to_minor_units(19.99, 100) == 1999  # 19.99 * 100 is 1998.9999999999998 in floats
    assert to_minor_units(0.285, 100) == 28 and to_minor_units(0.295, 100) == 30  # half-even on the decimal value
    assert to_minor_units(2500, 1) == 2500
    assert from_minor_units("10050", 100) == 100.5 and from_minor_units("799", 1) == 799.0
    assert from_minor_units(None, 100) is None and from_minor_units("", 100) is None


@pytest.mark.parametrize(
    ("adset_id", "budget", "match"),
    [
        ("act_123", 10.0, "string of digits"),
        (LEARNING, math.nan, "finite number"),
        (LEARNING, math.inf, "finite number"),
        (LEARNING, True, "finite number"),
        (LEARNING, 0.004, "at least one minor unit"),
        (LEARNING, -5.0, "at least one minor unit"),
    ],
)
def test_bad_input_is_named(graph: MetaGraphServer, adset_id: str, budget: float, match: str) -> None:
    with pytest.raises(MetaAdSetInputError, match=match):
        update_daily_budget(_config(graph), adset_id, budget, sleep=lambda s: None)
    assert graph.requests == []


def test_bad_settings_are_named() -> None:
    assert issubclass(MetaAdSetInputError, ValueError)
    with pytest.raises(MetaAdSetInputError, match="currency_offset must be 100 or 1"):
        MetaAdSetsConfig(DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, currency_offset=1000)
    with pytest.raises(MetaAdSetInputError, match="digits or act_<digits>"):
        MetaAdSetsConfig("acct-1", DEFAULT_TOKEN)
    with pytest.raises(MetaAdSetInputError, match="string of digits"):
        read_adsets(MetaAdSetsConfig(DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN), ["12", "x"])
    assert DEFAULT_TOKEN not in repr(MetaAdSetsConfig(DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN))
