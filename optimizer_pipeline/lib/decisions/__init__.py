"""Experiment decisions: the A/B toolkit, tests that stay valid under repeated looks, SRM, over-dispersion,
guardrails and the decision rules (pure logic, no Dagster)."""
