"""An active creative whose tags are not all known yet (``pattern_hash`` null until its autopsy) gets no new link;
a link that already went out for it stays pinned."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from optimizer_pipeline.lib.testloop.traffic_sources import assign

HANDLES = [f"creator{i:02d}" for i in range(12)]


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "creative_id": ["c00", "c01", "c02"],
            "pattern_hash": ["pA", None, "pB"],
            "status": ["active", "active", "active"],
        }
    )


def test_an_untagged_active_creative_waits_for_its_autopsy():
    pairs = assign(HANDLES, table(), 2)
    assert Counter(c for _, c in pairs) == {"c00": 12, "c02": 12}
    tagged = table().assign(pattern_hash=["pA", "pC", "pB"])  # the autopsy named its pattern: now it is assigned
    assert Counter(c for _, c in assign(HANDLES, tagged, 2))["c01"] > 0


def test_a_pinned_link_of_an_untagged_creative_stays():
    pairs = assign(HANDLES, table(), 1, pinned=[(HANDLES[0], "c01")])
    assert (HANDLES[0], "c01") in pairs and sum(h == HANDLES[0] for h, _ in pairs) == 1
    assert all(c != "c01" for h, c in pairs if h != HANDLES[0])


def test_autopsy_tags_complete_an_untagged_creative_and_never_change_given_ones():
    from optimizer_pipeline.lib.testloop.creative_autopsy import with_autopsy_tags
    from optimizer_pipeline.lib.testloop.creatives import TAG_FIELDS

    tags = dict(zip(TAG_FIELDS, ["question", "curiosity", "fast", "no_time", "urgency"], strict=True))
    creatives = pd.DataFrame(
        [
            {"creative_id": "c00", **tags, "pattern_hash": "pA", "tags_missing": []},
            {
                "creative_id": "c01",
                **dict.fromkeys(TAG_FIELDS, ""),
                "pattern_hash": None,
                "tags_missing": [*TAG_FIELDS],
            },
            {
                "creative_id": "c02",
                **dict.fromkeys(TAG_FIELDS, ""),
                "pattern_hash": None,
                "tags_missing": [*TAG_FIELDS],
            },
        ]
    )
    dna = pd.DataFrame(
        [
            {"creative_id": "c00", **tags, "pattern_hash": "pX"},  # a disagreeing video never overrides given tags
            {"creative_id": "c01", **tags, "pattern_hash": "pD"},
            {"creative_id": "c02", **dict.fromkeys(TAG_FIELDS, ""), "pattern_hash": None},  # still unknown
        ]
    )
    out = with_autopsy_tags(creatives, dna)
    assert out["pattern_hash"].tolist()[:2] == ["pA", "pD"] and pd.isna(out.loc[2, "pattern_hash"])
    assert out.loc[1, list(TAG_FIELDS)].tolist() == list(tags.values()) and out.loc[1, "tags_missing"] == []
    assert out.loc[2, "tags_missing"] == [*TAG_FIELDS]
    assert with_autopsy_tags(creatives, None).equals(creatives)
    assert Counter(c for _, c in assign(HANDLES, out.assign(status="active"), 2))["c01"] > 0
