"""Fatigue weights per pattern: ads -> creatives.ad_ids -> pattern_hash, with hand-made frames."""

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.testloop.fatigue_weights import pattern_decay_weights

P1 = "hook:question|emo:curiosity|pace:fast|pain:no_time|cta:urgency"
P2 = "hook:pov|emo:humor|pace:slow|pain:budget|cta:follow"
P3 = "hook:story|emo:trust|pace:medium|pain:weight|cta:save"


def _creatives() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "creative_id": ["c1", "c2", "c3", "c4"],
            "pattern_hash": [P1, P1, P2, P3],
            # as read back from Parquet: numpy arrays; also a plain list and a creative without ads
            "ad_ids": [np.array(["a1", "a2"]), ["a3"], ["b1", "b2"], None],
        }
    )


def _signals(**weights: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ad_id": list(weights),
            "status": ["fatigued" if w < 1 else "fresh" for w in weights.values()],
            "decay_weight": list(weights.values()),
        }
    )


def test_pattern_weight_is_the_mean_of_its_assessed_ads_and_unfatigued_patterns_get_one():
    fw = pattern_decay_weights(_signals(a1=0.6, a2=1.0, a3=0.3, b1=1.0, b2=1.0), _creatives())
    t = fw.table.set_index("pattern_hash")
    assert t.loc[P1, "decay_weight"] == pytest.approx((0.6 + 1.0 + 0.3) / 3)
    assert t.loc[P2, "decay_weight"] == 1.0 and t.loc[P2, "fatigue_reason"] == ""
    assert t.loc[P1, "ads"] == 3 and t.loc[P1, "fatigued_ads"] == 2
    reason = t.loc[P1, "fatigue_reason"]
    assert reason.startswith("fatigued ad a3: weight 0.30; fatigued ad a1: weight 0.60")
    assert "mean over its 3 assessed ad(s)" in reason
    np.testing.assert_allclose(fw.weight_of([P1, P2, P3, "hook:other"]), [0.6333333333, 1, 1, 1])
    assert fw.set_aside.empty and fw.assessed_ads == 5


def test_impressions_column_weights_the_mean():
    sig = _signals(a1=0.2, a2=1.0).assign(impressions=[1000, 3000])
    fw = pattern_decay_weights(sig, _creatives())
    assert fw.weight_of([P1])[0] == pytest.approx((0.2 * 1000 + 3000) / 4000)
    assert "impression-weighted mean" in fw.reason_of([P1])[0]


def test_unmapped_and_ambiguous_ads_are_set_aside_with_a_reason():
    creatives = pd.concat(
        [_creatives(), pd.DataFrame({"creative_id": ["c5"], "pattern_hash": [P2], "ad_ids": [["a1"]]})],
        ignore_index=True,
    )
    fw = pattern_decay_weights(_signals(a1=0.5, a3=0.8, zz=0.4), creatives)
    aside = fw.set_aside.set_index("ad_id")["reason"]
    assert set(aside.index) == {"a1", "zz"}
    assert "different patterns" in aside["a1"] and "c1" in aside["a1"] and "c5" in aside["a1"]
    assert aside["zz"] == "no creative lists this ad_id in ad_ids"
    assert fw.weight_of([P1])[0] == pytest.approx(0.8)  # only a3 counts for P1
    assert fw.weight_of([P2])[0] == 1.0


def test_same_ad_under_two_creatives_of_one_pattern_counts_once():
    creatives = _creatives().assign(ad_ids=[["a1"], ["a1"], [], []])
    fw = pattern_decay_weights(_signals(a1=0.5), creatives)
    assert fw.table["ads"].tolist() == [1] and fw.weight_of([P1])[0] == 0.5 and fw.set_aside.empty


def test_empty_or_absent_inputs_mean_weight_one():
    for sig, cre in ((None, _creatives()), (_signals(), _creatives()), (_signals(a1=0.5), None)):
        fw = pattern_decay_weights(sig, cre)
        assert fw.table.empty and list(fw.weight_of([P1, P2])) == [1.0, 1.0]


def test_bad_input_names_the_row_and_field():
    with pytest.raises(ValueError, match=r"ad_id 'a1' field 'decay_weight'"):
        pattern_decay_weights(_signals(a1=0.0), _creatives())
    with pytest.raises(ValueError, match=r"ad_id 'a1' has more than one row"):
        pattern_decay_weights(pd.concat([_signals(a1=0.5), _signals(a1=0.5)]), _creatives())
    with pytest.raises(ValueError, match=r"missing column\(s\) \['ad_ids'\]"):
        pattern_decay_weights(_signals(a1=0.5), _creatives().drop(columns="ad_ids"))
    with pytest.raises(ValueError, match=r"creative 'c1' field 'ad_ids'"):
        pattern_decay_weights(_signals(a1=0.5), _creatives().assign(ad_ids=["a1,a2", [], [], []]))


def test_parquet_round_trip_of_the_ad_ids_list_column(tmp_path):
    path = tmp_path / "creatives.parquet"
    _creatives().to_parquet(path)
    fw = pattern_decay_weights(_signals(a1=0.6), pd.read_parquet(path))
    assert fw.weight_of([P1])[0] == 0.6


def test_rerun_gives_the_same_table():
    a = pattern_decay_weights(_signals(a1=0.6, a3=0.3, b1=0.9), _creatives())
    b = pattern_decay_weights(_signals(b1=0.9, a3=0.3, a1=0.6), _creatives().iloc[::-1])
    pd.testing.assert_frame_equal(a.table, b.table)
