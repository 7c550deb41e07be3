"""What the act loop's assets share in the UI: their group."""

GROUP = "actions"
TABLE_KINDS = {"parquet", "pandas"}
