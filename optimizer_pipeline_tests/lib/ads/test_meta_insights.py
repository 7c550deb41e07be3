"""Meta Insights through the real ``facebook-business`` SDK against a Graph API fake on 127.0.0.1.

Nothing of the SDK is patched: the session's documented ``GRAPH`` URL points at the local server, which speaks the
Graph wire format (paging cursors, error envelopes, the ``X-Business-Use-Case-Usage`` header). Sleeps are recorded,
not slept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import socket
import traceback
from datetime import date

import pytest

from optimizer_pipeline.lib.ads.export_files import ACCEPTED_COLUMNS
from optimizer_pipeline.lib.ads.meta_insights import (
    MetaInsightsConfig,
    MetaInsightsConfigError,
    MetaInsightsError,
    fetch_ad_insights,
    make_api,
    parse_business_use_case_usage,
)
from optimizer_pipeline_tests.meta_graph_server import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_TOKEN,
    GraphError,
    MetaGraphServer,
    insights_rows,
    invalid_token_error,
    rate_limit_error,
    server_error,
)

SINCE, UNTIL = date(2026, 11, 1), date(2026, 11, 4)


@pytest.fixture
def graph() -> MetaGraphServer:
    with MetaGraphServer(insights_rows(n_ads=5, days=4)) as server:
        yield server


def _config(server: MetaGraphServer, **kw: object) -> MetaInsightsConfig:
    return MetaInsightsConfig(DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, graph_url=server.url, **kw)  # type: ignore[arg-type]


def test_pages_through_all_rows_with_the_sdk_cursor(graph: MetaGraphServer) -> None:
    sleeps: list[float] = []
    result = fetch_ad_insights(_config(graph, page_size=6), SINCE, UNTIL, sleep=sleeps.append)
    assert len(graph.requests) == 4 == result.requests  # 20 rows, 6 per page
    assert graph.requests[0].query.get("after") is None
    assert all(r.query.get("after") for r in graph.requests[1:])
    first = graph.requests[0]
    assert first.path == "/v26.0/act_1234567890/insights"
    assert first.query["level"] == "ad" and first.query["time_increment"] == "1" and first.query["limit"] == "6"
    assert json.loads(first.query["time_range"]) == {"since": "2026-11-01", "until": "2026-11-04"}
    assert "inline_link_clicks" in first.query["fields"].split(",") and "actions" in first.query["fields"]
    assert sleeps == [] and result.retries == 0 and result.rejected.empty

    rows = result.rows
    assert list(rows.columns) == list(ACCEPTED_COLUMNS) and len(rows) == 20
    assert rows[["ad_id", "date"]].drop_duplicates().shape[0] == 20
    expected = {(r["ad_id"], r["date_start"]): r for r in graph.rows}
    for _, row in rows.iterrows():
        src = expected[(row["ad_id"], row["date"].isoformat())]
        purchases = next(
            (int(a["value"]) for a in src["actions"] if a["action_type"] == "offsite_conversion.fb_pixel_purchase"), 0
        )
        assert row["impressions"] == int(src["impressions"]) and row["reach"] == int(src["reach"])
        assert row["clicks"] == int(src["inline_link_clicks"])  # link clicks, not all clicks
        assert row["spend"] == pytest.approx(float(src["spend"])) and row["currency"] == "EUR"
        assert row["conversions"] == purchases and row["revenue"] == pytest.approx(31.5 * purchases)
        assert row["platform"] == "meta" and row["source_file"] == "meta:act_1234567890"
    assert result.usage[0].type == "ads_insights" and result.usage[0].call_count == 12  # 3 % per call, 4 calls


def test_other_action_type_and_click_field(graph: MetaGraphServer) -> None:
    config = _config(graph, action_type="omni_purchase", click_field="clicks")
    rows = fetch_ad_insights(config, SINCE, SINCE, sleep=lambda s: None).rows
    src = {r["ad_id"]: r for r in graph.rows if r["date_start"] == "2026-11-01"}
    assert len(rows) == 5
    for _, row in rows.iterrows():
        omni = next((int(a["value"]) for a in src[row["ad_id"]]["actions"] if a["action_type"] == "omni_purchase"), 0)
        assert row["conversions"] == omni and row["clicks"] == int(src[row["ad_id"]]["clicks"])


def test_rate_limit_17_waits_as_the_usage_header_says_then_succeeds(graph: MetaGraphServer) -> None:
    graph.inject(rate_limit_error(17, regain_minutes=2))
    sleeps: list[float] = []
    result = fetch_ad_insights(_config(graph, page_size=6), SINCE, UNTIL, sleep=sleeps.append)
    assert sleeps == [120.0]  # estimated_time_to_regain_access = 2 minutes, longer than the 2 s backoff
    assert result.retries == 1 and result.requests == 5 and len(result.rows) == 20
    assert result.usage[0].estimated_time_to_regain_access == 0  # the last header seen, after recovery


@pytest.mark.parametrize(
    "error",
    [
        server_error(500),
        GraphError(503, None, "Service Unavailable", type=""),
        GraphError(502, None, "Bad Gateway", html=True),  # the SDK alone: FacebookBadObjectError, no retry
    ],
)
def test_5xx_then_success(graph: MetaGraphServer, error: GraphError) -> None:
    graph.inject(error)
    sleeps: list[float] = []
    result = fetch_ad_insights(_config(graph, page_size=6), SINCE, UNTIL, sleep=sleeps.append)
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 2.0  # base 2 s, equal jitter in [0.5, 1] x
    assert len(result.rows) == 20 and result.retries == 1


def test_throttle_on_a_later_page_resumes_at_that_page(graph: MetaGraphServer) -> None:
    graph.inject(rate_limit_error(613), rate_limit_error(613), after=1)  # page 2 throttled twice
    sleeps: list[float] = []
    result = fetch_ad_insights(_config(graph, page_size=6), SINCE, UNTIL, sleep=sleeps.append, rng=random.Random(1))
    assert len(result.rows) == 20 and result.retries == 2 and result.requests == 6
    afters = [r.query.get("after") for r in graph.requests]
    assert afters[0] is None and afters[1] == afters[2] == afters[3] != afters[4]  # page 2 asked again, not restarted
    assert 1.0 <= sleeps[0] <= 2.0 and 2.0 <= sleeps[1] <= 4.0  # base 2 s x 2^attempt x [0.5, 1]


def test_permanent_190_fails_at_once_naming_the_account_not_the_token(graph: MetaGraphServer) -> None:
    graph.inject(invalid_token_error())
    sleeps: list[float] = []
    with pytest.raises(MetaInsightsError) as caught:
        fetch_ad_insights(_config(graph), SINCE, UNTIL, sleep=sleeps.append)
    err = caught.value
    assert sleeps == [] and len(graph.requests) == 1 and err.code == 190 and err.http_status == 400
    text = str(err)
    assert "act_1234567890" in text and "code 190" in text
    assert "Invalid OAuth access token - Cannot parse access token" in text
    assert err.__cause__ is None and err.__context__ is None  # the SDK's error (request parameters) is not chained
    shown = "".join(traceback.format_exception(err)) + repr(err)
    assert DEFAULT_TOKEN not in shown and "access_token" not in shown
    assert DEFAULT_TOKEN not in repr(_config(graph))


def test_wrong_token_and_unknown_account_are_permanent(graph: MetaGraphServer) -> None:
    bad_token = MetaInsightsConfig(DEFAULT_ACCOUNT_ID, "EAAwrongtoken", graph_url=graph.url)
    with pytest.raises(MetaInsightsError, match="code 190") as caught:
        fetch_ad_insights(bad_token, SINCE, UNTIL, sleep=lambda s: None)
    assert "EAAwrongtoken" not in "".join(traceback.format_exception(caught.value))
    other = MetaInsightsConfig("act_999", DEFAULT_TOKEN, graph_url=graph.url)
    with pytest.raises(MetaInsightsError, match=r"act_999 failed .*code 100, subcode 33.*does not exist"):
        fetch_ad_insights(other, SINCE, UNTIL, sleep=lambda s: None)


def test_gives_up_after_max_attempts(graph: MetaGraphServer) -> None:
    graph.inject(*[rate_limit_error(80000)] * 3)
    sleeps: list[float] = []
    with pytest.raises(MetaInsightsError, match=r"code 80000.*gave up after 3 attempts"):
        fetch_ad_insights(_config(graph, max_attempts=3), SINCE, UNTIL, sleep=sleeps.append)
    assert len(graph.requests) == 3 and len(sleeps) == 2


def test_throttle_longer_than_max_wait_fails_clearly(graph: MetaGraphServer) -> None:
    graph.inject(rate_limit_error(4, regain_minutes=30))
    sleeps: list[float] = []
    with pytest.raises(MetaInsightsError, match=r"code 4.*throttled for 30 min, longer than max_wait_s"):
        fetch_ad_insights(_config(graph, max_wait_s=600), SINCE, UNTIL, sleep=sleeps.append)
    assert sleeps == []


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = MetaInsightsConfig(DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, graph_url=f"http://127.0.0.1:{port}", max_attempts=2)
    sleeps: list[float] = []
    with pytest.raises(MetaInsightsError, match=r"ConnectionError.*gave up after 2 attempts") as caught:
        fetch_ad_insights(config, SINCE, UNTIL, sleep=sleeps.append)
    assert len(sleeps) == 1
    # requests' own message holds the URL with ?access_token=...: it must not travel with the error
    assert caught.value.__context__ is None
    assert DEFAULT_TOKEN not in "".join(traceback.format_exception(caught.value))


def test_app_secret_sends_appsecret_proof(graph: MetaGraphServer) -> None:
    secret = "app-secret-123"
    fetch_ad_insights(_config(graph, app_secret=secret), SINCE, SINCE, sleep=lambda s: None)
    expected = hmac.new(secret.encode(), DEFAULT_TOKEN.encode(), hashlib.sha256).hexdigest()
    assert graph.requests[0].query["appsecret_proof"] == expected


def test_api_object_uses_the_configured_url_and_version(graph: MetaGraphServer) -> None:
    fetch_ad_insights(_config(graph, api_version="v25.0"), SINCE, SINCE, sleep=lambda s: None)
    assert graph.requests[0].path == "/v25.0/act_1234567890/insights"
    make_api(_config(graph))
    from facebook_business.api import FacebookAdsApi
    from facebook_business.session import FacebookSession

    # only the session instance points at the fake: no class attribute or process-wide default API is changed
    assert FacebookAdsApi.get_default_api() is None
    assert FacebookSession.GRAPH == "https://graph.facebook.com"


def test_usage_header_parsing() -> None:
    value = json.dumps(
        {
            "111": [
                {
                    "type": "ads_insights",
                    "call_count": 28,
                    "total_cputime": 25,
                    "total_time": 25,
                    "estimated_time_to_regain_access": 0,
                }
            ],
            "222": [
                {
                    "type": "ads_management",
                    "call_count": 95,
                    "total_cputime": 20,
                    "total_time": 20,
                    "estimated_time_to_regain_access": 7,
                }
            ],
        }
    )
    usage = parse_business_use_case_usage(value)
    assert [(u.business_id, u.type, u.call_count, u.estimated_time_to_regain_access) for u in usage] == [
        ("111", "ads_insights", 28.0, 0.0),
        ("222", "ads_management", 95.0, 7.0),
    ]
    assert parse_business_use_case_usage(None) == [] and parse_business_use_case_usage("{not json") == []
    assert parse_business_use_case_usage("[1, 2]") == []


def test_invalid_settings_are_named() -> None:
    with pytest.raises(MetaInsightsConfigError, match="digits or act_<digits>"):
        MetaInsightsConfig("acct-12", DEFAULT_TOKEN)
    with pytest.raises(MetaInsightsConfigError, match="click_field"):
        MetaInsightsConfig("12", DEFAULT_TOKEN, click_field="outbound_clicks")
    with pytest.raises(MetaInsightsConfigError, match="token for act_12 is empty"):
        MetaInsightsConfig("12", "")
    with pytest.raises(MetaInsightsConfigError, match=r"ends .* before it starts"):
        fetch_ad_insights(MetaInsightsConfig("12", "t"), UNTIL, SINCE)
