"""Which patterns separate top performers: bucket models, tier statistics, evidence, intelligence."""
