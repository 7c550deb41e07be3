"""What the test loop's assets share in the UI: their group, and how an unconfigured client is reported."""

GROUP = "test_loop"
TABLE_KINDS = {"parquet", "pandas"}
NOT_CONFIGURED = "not configured: add test_loop.{field} for this client in the registry"
