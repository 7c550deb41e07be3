import itertools
import json
import random
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from optimizer_pipeline.lib.testloop.conversions import ACCEPTED_COLUMNS, hmac_hex, parse_event_files
from optimizer_pipeline.lib.testloop.event_files import read_inbox_files

SALT = b"s" * 32
OTHER_SALT = b"t" * 32


def page(mid, anon="a1", ts="2024-01-15T10:00:00Z", **kw):
    e = {"messageId": mid, "type": "page", "name": "Home", "anonymousId": anon, "timestamp": ts}
    e.update(kw)
    return e


def order(mid, oid="o1", total=10.0, ts="2024-01-16T10:00:00Z", **kw):
    e = {
        "messageId": mid,
        "type": "track",
        "event": "Order Completed",
        "anonymousId": "a1",
        "timestamp": ts,
        "properties": {"order_id": oid, "total": total, "currency": "EUR"},
    }
    e.update(kw)
    return e


def write(path: Path, events) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))
    return path


def df(batch):
    return batch.accepted.to_pandas()


def test_read_inbox_files_filters_and_sorts(tmp_path):
    for name in ["b.jsonl", "a.ndjson", "c.json", "x.tmp", ".hidden.jsonl", "up.jsonl.part", "notes.txt"]:
        (tmp_path / name).write_text("")
    assert [p.name for p in read_inbox_files(tmp_path)] == ["a.ndjson", "b.jsonl", "c.json"]
    assert read_inbox_files(tmp_path / "missing") == []


def test_same_event_in_two_files_counts_once_and_first_wins(tmp_path):
    write(tmp_path / "2.jsonl", [page("m1", utm_id_dummy=1), page("m2")])
    write(tmp_path / "1.jsonl", [page("m1")])
    b = parse_event_files(read_inbox_files(tmp_path), salt=SALT)
    d = df(b)
    assert sorted(d["message_id"]) == ["m1", "m2"]
    assert d.set_index("message_id").loc["m1", "source_file"] == "1.jsonl"
    assert b.duplicates == 1 and b.read == 3
    assert b.read == b.accepted.num_rows + len(b.rejected) + b.duplicates + b.ignored


def test_reparse_is_identical_and_order_independent(tmp_path):
    write(tmp_path / "a.jsonl", [page("m1"), order("m2"), "garbage"])
    write(tmp_path / "b.jsonl", [page("m1"), page("m3", anon="a2")])
    files = read_inbox_files(tmp_path)
    b1 = parse_event_files(files, salt=SALT)
    b2 = parse_event_files(list(reversed(files)), salt=SALT)
    assert b1.accepted.equals(b2.accepted)
    pd.testing.assert_frame_equal(b1.rejected, b2.rejected)
    assert (b1.duplicates, b1.read) == (b2.duplicates, b2.read)


def test_malformed_lines_rejected_with_file_line_reason(tmp_path):
    lines = [
        page("ok1"),  # 1
        "not json",  # 2
        "[1, 2]",  # 3
        {"type": "page", "anonymousId": "a", "timestamp": "2024-01-01T00:00:00Z"},  # 4 no messageId
        {"messageId": "x5", "type": "page", "anonymousId": "a"},  # 5 no timestamp
        page("x6", ts="yesterday"),  # 6
        {"messageId": "x7", "type": "page", "timestamp": "2024-01-01T00:00:00Z"},  # 7 no ids
        order("x8", oid=None),  # 8
        order("x9", total="abc"),  # 9
        {"messageId": "x10", "type": "teleport", "anonymousId": "a", "timestamp": "2024-01-01T00:00:00Z"},  # 10
        "x" * 5000,  # 11
    ]
    write(tmp_path / "e.jsonl", lines)
    b = parse_event_files([tmp_path / "e.jsonl"], salt=SALT)
    r = b.rejected
    assert list(r.columns) == ["file", "line", "reason", "raw"]
    assert (r["file"] == "e.jsonl").all()
    got = dict(zip(r["line"], r["reason"], strict=True))
    assert got[2] == "invalid JSON"
    assert got[3] == "not a JSON object"
    assert got[4] == "missing messageId"
    assert got[5] == "missing timestamp"
    assert got[6] == "invalid timestamp"
    assert got[7] == "missing anonymousId and userId"
    assert got[8] == "Order Completed without order_id"
    assert got[9] == "Order Completed with non-numeric total"
    assert got[10].startswith("unknown type")
    assert got[11] == "invalid JSON"
    assert r.set_index("line").loc[2, "raw"] == "not json"
    assert len(r.set_index("line").loc[11, "raw"].encode()) <= 2048
    assert b.accepted.num_rows == 1
    assert b.read == 11 == b.accepted.num_rows + len(r) + b.duplicates + b.ignored


def test_timestamp_formats(tmp_path):
    tss = [
        "2024-01-15T10:00:00Z",
        "2024-01-15T10:00:00.123Z",
        "2024-01-15T12:00:00+02:00",
        "2024-01-15T12:00:00.500+0200",
        1705312800000,
        "1705312800000",
        1705312800,
    ]
    write(tmp_path / "t.jsonl", [page(f"m{i}", ts=t) for i, t in enumerate(tss)])
    d = df(parse_event_files([tmp_path / "t.jsonl"], salt=SALT))
    got = list(d["timestamp"])
    base = pd.Timestamp("2024-01-15T10:00:00Z")
    assert got == [
        base,
        base + pd.Timedelta("123ms"),
        base,
        base + pd.Timedelta("500ms"),
        base,
        base,
        base,
    ]
    assert str(d["timestamp"].dt.tz) == "UTC"


def test_utm_from_properties_or_context_campaign(tmp_path):
    events = [
        page("m1", properties={"utm_id": "P1", "utm_source": "ig"}),
        page(
            "m2", context={"campaign": {"id": "C1", "source": "tiktok", "medium": "inf", "name": "n", "content": "c"}}
        ),
        page("m3", properties={"utm_id": "P2"}, context={"campaign": {"id": "C2", "source": "yt"}}),
        page("m4"),
    ]
    write(tmp_path / "u.jsonl", events)
    d = df(parse_event_files([tmp_path / "u.jsonl"], salt=SALT)).set_index("message_id")
    assert d.loc["m1", "utm_id"] == "P1" and d.loc["m1", "utm_source"] == "ig"
    assert tuple(d.loc["m2", ["utm_id", "utm_source", "utm_medium", "utm_campaign", "utm_content"]]) == (
        "C1",
        "tiktok",
        "inf",
        "n",
        "c",
    )
    assert d.loc["m3", "utm_id"] == "P2"  # properties.utm_id wins
    assert pd.isna(d.loc["m4", "utm_id"])


def test_order_fields_and_event_types(tmp_path):
    events = [
        order("m1", oid="o1", total="12.50"),
        order("m2", oid="o2", total=None, properties={"order_id": "o2", "revenue": 7, "currency": "USD"}),
        {"messageId": "m3", "type": "track", "event": "Page Viewed", "anonymousId": "a", "timestamp": 1705312800000},
        {"messageId": "m4", "type": "identify", "anonymousId": "a", "userId": "U", "timestamp": 1705312800000},
        {"messageId": "m5", "type": "identify", "userId": "U", "timestamp": 1705312800000},
        {"messageId": "m6", "type": "track", "event": "Product Viewed", "anonymousId": "a", "timestamp": 1705312800000},
        {"messageId": "m7", "type": "screen", "anonymousId": "a", "timestamp": 1705312800000},
    ]
    write(tmp_path / "o.jsonl", events)
    b = parse_event_files([tmp_path / "o.jsonl"], salt=SALT)
    d = df(b).set_index("message_id")
    assert list(df(b).columns) == ACCEPTED_COLUMNS
    assert d.loc["m1", "total"] == 12.5 and d.loc["m1", "currency"] == "EUR"
    assert d.loc["m2", "total"] == 7 and d.loc["m2", "currency"] == "USD"
    assert tuple(d.loc["m3", ["type", "event"]]) == ("page", "Page Viewed")
    assert d.loc["m4", "type"] == "identify"  # links ids -> accepted
    assert set(d.index) == {"m1", "m2", "m3", "m4"}
    assert b.ignored == 3 and b.read == b.accepted.num_rows + len(b.rejected) + b.duplicates + b.ignored


def test_hashing_no_raw_pii_and_salt(tmp_path):
    e = page("m1", userId="user-42", traits={"email": " Jane@Example.COM "})
    e2 = order("m2", userId="user-42", context={"traits": {"email": "jane@example.com"}})
    write(tmp_path / "h.jsonl", [e, e2])
    b1 = parse_event_files([tmp_path / "h.jsonl"], salt=SALT)
    b2 = parse_event_files([tmp_path / "h.jsonl"], salt=SALT)
    b3 = parse_event_files([tmp_path / "h.jsonl"], salt=OTHER_SALT)
    d1, d2, d3 = df(b1), df(b2), df(b3)
    text = d1.astype(str).to_csv()
    assert "user-42" not in text and "jane" not in text.lower()
    assert d1["user_id_hash"].tolist() == [hmac_hex(SALT, "user-42")] * 2
    assert d1["email_hash"].tolist() == [hmac_hex(SALT, "jane@example.com")] * 2
    assert d1["user_id_hash"].tolist() == d2["user_id_hash"].tolist()
    assert d1["user_id_hash"][0] != d3["user_id_hash"][0] and d1["email_hash"][0] != d3["email_hash"][0]
    with pytest.raises(ValueError):
        parse_event_files([tmp_path / "h.jsonl"], salt=b"short")


def test_batch_json_and_blank_lines(tmp_path):
    (tmp_path / "w.json").write_text(json.dumps({"batch": [page("b1"), page("b2"), 5]}, indent=2))
    (tmp_path / "n.jsonl").write_text(json.dumps(page("n1")) + "\n\n   \n" + json.dumps(page("n2")) + "\n")
    b = parse_event_files(read_inbox_files(tmp_path), salt=SALT)
    d = df(b)
    assert d[["message_id", "source_file", "line"]].values.tolist() == [
        ["n1", "n.jsonl", 1],
        ["n2", "n.jsonl", 2],
        ["b1", "w.json", 1],
        ["b2", "w.json", 2],
    ]
    assert b.rejected[["file", "line", "reason"]].values.tolist() == [["w.json", 3, "not a JSON object"]]
    assert b.read == 5


@pytest.mark.parametrize("kind", ["set", "arrow", "duckdb"])
def test_seen_message_ids_count_as_duplicates(tmp_path, kind):
    write(tmp_path / "a.jsonl", [page("m1"), page("m2")])
    seen = {"m1"}
    if kind == "arrow":
        seen = pa.table({"message_id": ["m1"]})
    elif kind == "duckdb":
        seen = duckdb.sql("SELECT 'm1' AS message_id")
    b = parse_event_files([tmp_path / "a.jsonl"], salt=SALT, seen_message_ids=seen)
    assert df(b)["message_id"].tolist() == ["m2"] and b.duplicates == 1 and b.read == 2


def test_no_files():
    b = parse_event_files([], salt=SALT)
    assert b.accepted.num_rows == 0 and b.read == 0 and list(b.accepted.column_names) == ACCEPTED_COLUMNS


def test_many_files_keep_file_and_line_order_with_parallel_threads(tmp_path):
    # big enough for DuckDB to split the work over both threads; every event carries its own (file, line)
    rng = random.Random(5)
    expected = []
    for f in range(3):
        lines = []
        for ln in range(1, 20_001):
            if rng.random() < 0.001:
                lines.append("{broken")
                continue
            mid = f"f{f}-l{ln}"
            lines.append(page(mid, anon=f"a{rng.randrange(500)}"))
            expected.append((f"{f}.jsonl", ln, mid))
        write(tmp_path / f"{f}.jsonl", lines)
    b = parse_event_files(read_inbox_files(tmp_path), salt=SALT, threads=2)
    d = df(b)
    assert list(zip(d["source_file"], d["line"], d["message_id"], strict=True)) == expected
    assert (b.rejected["raw"] == "{broken").all() and len(b.rejected) == b.read - len(expected)
    keys = list(zip(b.rejected["file"], b.rejected["line"], strict=True))
    assert keys == sorted(keys) and len(keys) > 10


def test_raw_lines_fast_path_and_blank_line_fallback(tmp_path):
    from optimizer_pipeline.lib.testloop.ndjson_lines import raw_lines

    body = [json.dumps(page(f"m{i}")) for i in range(3000)]
    plain = tmp_path / "plain.jsonl"
    plain.write_text("\n".join(body))  # no trailing newline
    wanted = [1, 2, 1500, 2999, 3000]
    got = raw_lines(plain, wanted, n_rows=3000)
    assert [g.decode() for g in got] == [body[k - 1] for k in wanted]
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n" + "\n  \n".join(body) + "\n\n")  # blank lines: DuckDB does not number them
    got = raw_lines(blank, wanted, n_rows=3000)
    assert [g.decode().strip() for g in got] == [body[k - 1] for k in wanted]
    # end to end: a rejected line after blank lines is found with its text and its non-blank line number
    (tmp_path / "e.jsonl").write_text("\n\n" + json.dumps(page("ok")) + "\n   \n{bad line\n")
    b = parse_event_files([tmp_path / "e.jsonl"], salt=SALT)
    assert b.rejected[["line", "reason", "raw"]].values.tolist() == [[2, "invalid JSON", "{bad line"]]


def test_file_names_with_glob_characters_are_read_literally(tmp_path):
    write(tmp_path / "events[1].jsonl", [page("m1")])
    write(tmp_path / "events1.jsonl", [page("m2")])  # would match the glob events[1].jsonl
    write(tmp_path / "b*.jsonl", [page("m3"), "oops"])
    b = parse_event_files([tmp_path / "events[1].jsonl", tmp_path / "b*.jsonl"], salt=SALT)
    assert df(b)[["message_id", "source_file"]].values.tolist() == [["m3", "b*.jsonl"], ["m1", "events[1].jsonl"]]
    assert b.rejected[["file", "line", "raw"]].values.tolist() == [["b*.jsonl", 2, "oops"]]


def test_file_groups_are_contiguous_cover_every_file_and_balance(tmp_path):
    from optimizer_pipeline.lib.testloop.event_parse import GROUP_MIN_BYTES, _file_groups

    sizes = [GROUP_MIN_BYTES * 6 // 10] * 8 + [GROUP_MIN_BYTES * 3] * 4 + [10, 10]
    paths = []
    for i, size in enumerate(sizes):
        p = tmp_path / f"{i:02d}.jsonl"
        with p.open("wb") as fh:
            fh.truncate(size)  # sparse: only the size matters
        paths.append(p)
    groups = _file_groups(paths, workers=2)
    assert groups[0][0] == 0 and groups[-1][1] == len(paths)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(groups))  # contiguous, in file order
    # every group but the last reaches the target; big files are alone, so both workers get similar work
    assert all(sum(sizes[a:b]) >= GROUP_MIN_BYTES for a, b in groups[:-1])
    assert groups == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 9), (9, 10), (10, 11), (11, 12), (12, 14)]
    assert _file_groups(paths[-2:], workers=2) == [(0, 2)]  # tiny files: one query
