"""What the decision loop's assets share in the UI: their group."""

GROUP = "decisions"
TABLE_KINDS = {"parquet", "pandas"}
