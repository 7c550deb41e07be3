"""Ad metrics: the export schema, export files and the Meta Insights API into one row per ad and day
(pure logic, no Dagster)."""
