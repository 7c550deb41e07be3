"""What the report assets share in the UI: their group and kinds."""

GROUP = "reports"
KINDS = {"parquet", "pandas", "markdown"}
