"""Acting on decisions: budget plans, the SafeExecutor and its ledger, fatigue, blended scores (pure logic, no
Dagster)."""
