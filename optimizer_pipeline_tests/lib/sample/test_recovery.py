"""Recovery scoring with pattern families: every claimed row is scored, planted effects count through their family."""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.sample.recovery import score_recovery

TRUTH = {
    "effects": [
        {"feature": "hook_cut_count", "duration_bucket": "0-15s", "hashtags": ["h"], "direction": "higher"},
        {"feature": "tempo_bpm", "duration_bucket": "0-15s", "hashtags": ["h"], "direction": "higher"},
    ],
    "design_features": {"hook_cut_count": {}, "tempo_bpm": {}, "brightness_mean": {}},
    "null_features": {"h": {"0-15s": ["brightness_mean"]}},
}


def _row(feature, evidence, family, role, rho=1.0, direction="higher", kind="continuous", q=0.01):
    return {
        "feature": feature,
        "kind": kind,
        "threshold": "1",
        "evidence": evidence,
        "direction": direction,
        "q_value": q,
        "family": family,
        "family_role": role,
        "family_rho": rho,
    }


def test_every_claim_is_scored_and_planted_effects_count_through_their_family():
    rng = np.random.default_rng(0)
    n = 80
    hook = rng.integers(0, 5, n).astype(float)
    tempo = rng.choice([80.0, 100.0, 126.0, 140.0], n)
    frame = pd.DataFrame(
        {
            "hook_cut_count": hook,
            "tl_cut_density_w01": hook + rng.normal(0, 0.3, n),  # proxy, |rho| >= 0.5
            "tempo_bpm": tempo,
            "time_to_first_cut_s": -hook + rng.normal(0, 0.2, n),  # negative proxy, the family's lead
            "tl_loudness_w04": rng.normal(size=n),  # neither planted nor correlated: a false claim
            "tl_cut_density_min": 0.3 * hook + rng.normal(0, 1.5, n),  # weakly correlated: a false claim
            "brightness_mean": rng.normal(size=n),
        }
    )
    rows = pd.DataFrame(
        [
            # hook_cut_count is a member of a negatively correlated lead: recovered when the lead says "lower"
            _row("time_to_first_cut_s", "STRONG", "time_to_first_cut_s", "lead", direction="lower"),
            _row("hook_cut_count", "none", "time_to_first_cut_s", "member", rho=-0.97),
            _row("tl_cut_density_w01", "MODERATE", "tl_cut_density_w01", "lead"),  # own family, |rho| >= 0.5: true
            _row("tempo_bpm", "EMERGING", "tempo_bpm", "lead", q=0.2),  # not claimed: missed
            _row("tl_loudness_w04", "MODERATE", "tl_loudness_w04", "lead", q=0.05),
            _row("tl_cut_density_min", "STRONG", "tl_cut_density_min", "lead", q=0.005),
            _row("brightness_mean", "none", "brightness_mean", "lead", q=0.9),
        ]
    )
    report = score_recovery({("h", "0-15s"): rows}, TRUTH, {("h", "0-15s"): frame})
    found = {r["feature"]: r["recovered"] for r in report.rows}
    assert found == {"hook_cut_count": True, "tempo_bpm": False}
    assert report.claims == 4  # the four STRONG/MODERATE leads, design feature or not
    assert sorted(f["feature"] for f in report.false) == ["tl_cut_density_min", "tl_loudness_w04"]
    assert report.false_claims == 2 and report.false_claim_share == 0.5
    # a proxy member's own label never counts as a claim, and the wrong direction is not a recovery
    flipped = rows.assign(direction=np.where(rows["feature"] == "time_to_first_cut_s", "higher", rows["direction"]))
    assert not score_recovery({("h", "0-15s"): flipped}, TRUTH, {("h", "0-15s"): frame}).rows[0]["recovered"]
    # without the feature table only the family clause is checked: the correlated proxy now counts as false
    assert score_recovery({("h", "0-15s"): rows}, TRUTH).false_claims == 3
