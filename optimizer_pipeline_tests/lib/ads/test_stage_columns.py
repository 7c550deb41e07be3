"""Pipeline stage columns of ad exports: a service business's funnel counts land in ``ad_performance`` (and are
valued by ``pipeline_value``), bad counts are set aside and counted, reruns change nothing, other clients are as
before."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from optimizer_pipeline.lib.actions.pipeline_value import pipeline_value
from optimizer_pipeline.lib.ads.export_files import (
    ACCEPTED_COLUMNS,
    ExportFileError,
    empty_accepted,
    read_export_file,
    read_export_files,
    with_stage_columns,
)
from optimizer_pipeline.lib.ads.export_schema import stage_fields, stage_header
from optimizer_pipeline.lib.registry.decisions_settings import parse_pipeline

#: worth e_s = p * v * 0.5 ** (days / 7): lead 0.1*1000*0.25 = 25, call_booked 0.3*1000*0.5 = 150,
#: proposal 0.5*1000*0.5 = 250, deal_won 1.0*1000*1 = 1000; increments 25, 125, 100, 750.
PIPELINE = parse_pipeline(
    {
        "currency": "AED",
        "half_life_days": 7,
        "stages": [
            {"name": "lead", "probability": 0.1, "value": 1000, "days_to_close": 14},
            {"name": "call_booked", "probability": 0.3, "value": 1000, "days_to_close": 7},
            {"name": "proposal", "probability": 0.5, "value": 1000, "days_to_close": 7},
            {"name": "deal_won", "probability": 1.0, "value": 1000, "days_to_close": 0},
        ],
    },
    "clients.yaml: acme: decisions",
)
STAGES = tuple(s.name for s in PIPELINE.stages)

#: A Meta Ads Manager export with three of the four stages, spelt as a person would name the columns.
META = (
    "Day,Ad ID,Impressions,Link clicks,Amount spent (AED),Results,Lead,Call booked,deal-won\n"
    "2026-11-03,101,1000,40,50.00,12,10,4,1\n"  # 10*25 + 4*125 + 0*100 + 1*750 = 1500
    "2026-11-03,102,800,10,20.00,3,,0,\n"  # blank = 0: 0
    "2026-11-04,101,1200,30,60.00,5,5,2,0\n"  # 5*25 + 2*125 = 375
)


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _day(rows: pd.DataFrame, ad_id: str, day: str) -> pd.Series:
    return rows[(rows["ad_id"] == ad_id) & (rows["date"].astype(str) == day)].iloc[0]


def test_stage_headers_are_matched_however_they_are_spelt():
    for header in ("call_booked", "Call booked", " CALL-BOOKED ", "\ufeffCall  Booked"):
        assert stage_header(header) == "call_booked"
    assert stage_fields(["Day", "Call booked", "call_booked", "Lead"], STAGES) == {"call_booked": 1, "lead": 3}
    assert stage_fields(["Leads", "Calls booked"], STAGES) == {}  # no fuzzy matching: a plural is another name


def test_stage_counts_land_and_pipeline_value_gives_the_synthetic_revenue(tmp_path):
    read = read_export_files([_write(tmp_path, "meta.csv", META)], platform="meta", stages=STAGES)
    rows = read.rows
    assert list(rows.columns) == [*ACCEPTED_COLUMNS[:14], *STAGES, *ACCEPTED_COLUMNS[14:]]
    assert all(str(rows[s].dtype) == "Int64" for s in STAGES)
    day = _day(rows, "101", "2026-11-03")
    assert (day["lead"], day["call_booked"], day["deal_won"], day["conversions"]) == (10, 4, 1, 12)
    assert pd.isna(day["proposal"])  # no column in the file: not reported
    blank = _day(rows, "102", "2026-11-03")
    assert (blank["lead"], blank["call_booked"], blank["deal_won"]) == (0, 0, 0)
    value = pipeline_value(rows, PIPELINE)
    got = {(a, str(d)): v for a, d, v in zip(rows["ad_id"], rows["date"], value, strict=True)}
    assert got == {
        ("101", "2026-11-03"): pytest.approx(1500.0),
        ("102", "2026-11-03"): pytest.approx(0.0),
        ("101", "2026-11-04"): pytest.approx(375.0),
    }


def test_a_bad_stage_cell_rejects_its_row_with_the_reason_and_is_counted(tmp_path):
    text = (
        "ad_id,date,impressions,clicks,spend,conversions,currency,lead,call_booked\n"
        "1,2026-11-03,100,10,5,2,AED,2,1\n"
        "2,2026-11-03,100,10,5,2,AED,2,-1\n"
        "3,2026-11-03,100,10,5,2,AED,two,1\n"
        "4,2026-11-03,100,10,5,2,AED,2,1.5\n"
        "5,2026-11-03,100,10,5,2,AED,--,0\n"
    )
    result = read_export_file(_write(tmp_path, "bad.csv", text), stages=STAGES)
    assert result.rows_read == len(result.accepted) + len(result.rejected) == 5
    assert sorted(result.accepted["ad_id"]) == ["1", "5"]
    reasons = dict(zip(result.rejected["source_line"], result.rejected["reason"], strict=True))
    assert reasons == {
        3: "negative count in call_booked: -1",
        4: "unparsable number in lead: 'two'",
        5: "call_booked is not a whole number: 1.5",
    }
    assert result.rejected["source_file"].eq("bad.csv").all()
    assert _day(result.accepted, "5", "2026-11-03")["lead"] == 0


def test_without_a_pipeline_stage_columns_are_ignored_as_before(tmp_path):
    plain = "ad_id,date,impressions,clicks,spend,conversions,currency\n1,2026-11-03,100,10,5,2,AED\n"
    staged = "ad_id,date,impressions,clicks,spend,conversions,currency,lead,call_booked\n"
    staged += "1,2026-11-03,100,10,5,2,AED,2,-1\n"  # a bad stage cell does not matter without a pipeline
    before = read_export_files([_write(tmp_path / "a", "x.csv", plain)])
    after = read_export_files([_write(tmp_path / "b", "x.csv", staged)])
    assert list(after.rows.columns) == list(ACCEPTED_COLUMNS)
    pd.testing.assert_frame_equal(after.rows, before.rows)
    pd.testing.assert_frame_equal(after.files, before.files)
    assert len(after.rejected) == 0


def test_rerun_and_redrop_change_nothing_and_a_stage_revision_supersedes(tmp_path):
    first = _write(tmp_path, "1.csv", META)
    again = _write(tmp_path, "2.csv", META)
    once = read_export_files([first], platform="meta", stages=STAGES)
    twice = read_export_files([first], platform="meta", stages=STAGES)
    pd.testing.assert_frame_equal(once.rows, twice.rows)
    redropped = read_export_files([first, again], platform="meta", stages=STAGES)
    pd.testing.assert_frame_equal(redropped.rows, once.rows)  # identical values keep the first provenance
    assert redropped.files["superseded"].tolist() == [0, 3]

    revised = _write(
        tmp_path, "3.csv", META.replace("2026-11-04,101,1200,30,60.00,5,5,2,0", "2026-11-04,101,1200,30,60.00,5,5,2,1")
    )
    read = read_export_files([first, revised], platform="meta", stages=STAGES)
    assert read.files["superseded"].tolist() == [1, 2]  # only the day whose deal_won changed moves to 3.csv
    day = _day(read.rows, "101", "2026-11-04")
    assert (day["deal_won"], day["source_file"]) == (1, "3.csv")
    files = read.files
    assert int(files["rows_read"].sum()) == len(read.rows) + int(files["superseded"].sum()) + len(read.rejected)


def test_files_with_and_without_the_first_stage_column_combine_row_by_row(tmp_path):
    without = _write(
        tmp_path,
        "1.csv",
        "ad_id,date,impressions,clicks,spend,conversions,currency\n7,2026-11-02,100,10,5,3,AED\n",
    )
    with_lead = _write(
        tmp_path,
        "2.csv",
        "ad_id,date,impressions,clicks,spend,conversions,currency,lead\n7,2026-11-03,100,10,5,3,AED,6\n",
    )
    rows = read_export_files([without, with_lead], stages=STAGES).rows
    assert _day(rows, "7", "2026-11-02")["lead"] == 3  # no lead column: the platform's conversions are the leads
    assert _day(rows, "7", "2026-11-03")["lead"] == 6
    assert rows["call_booked"].isna().all()
    assert pipeline_value(rows, PIPELINE).tolist() == pytest.approx([3 * 25.0, 6 * 25.0])


def test_schema_is_the_same_whatever_the_files_hold(tmp_path):
    full = read_export_files([_write(tmp_path, "m.csv", META)], platform="meta", stages=STAGES).rows
    none = read_export_files([], stages=STAGES).rows
    bare = read_export_files(
        [_write(tmp_path, "g.csv", "ad_id,date,impressions,clicks,spend,currency\n1,2026-11-03,1,0,0,AED\n")],
        stages=STAGES,
    ).rows
    assert (
        full.dtypes.to_dict()
        == none.dtypes.to_dict()
        == bare.dtypes.to_dict()
        == empty_accepted(STAGES).dtypes.to_dict()
    )
    assert pd.isna(bare["lead"].iloc[0])  # no conversions column either: unknown, valued 0


def test_rows_of_another_source_get_the_stage_columns():
    rows = pd.DataFrame(
        {"ad_id": ["9"], "conversions": pd.array([4], dtype="Int64"), "platform": ["meta"], "source_file": ["meta:1"]}
    )
    staged = with_stage_columns(rows, STAGES)
    assert list(staged.columns) == ["ad_id", "conversions", "platform", *STAGES, "source_file"]
    assert staged["lead"].tolist() == [4] and staged[list(STAGES[1:])].isna().all().all()
    assert with_stage_columns(rows, ()) is rows


@pytest.mark.parametrize("name", ["ctr", "flags", "source_line", "date_stop"])
def test_a_stage_named_like_a_stored_column_is_refused(tmp_path, name):
    path = _write(tmp_path, "x.csv", "ad_id,date,impressions,clicks,spend,currency\n1,2026-11-03,1,0,0,AED\n")
    with pytest.raises(ExportFileError, match=f"'{name}'.*rename the stage"):
        read_export_files([path], stages=("lead", name))
