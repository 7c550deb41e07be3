"""Pure domain logic: no Dagster import anywhere in this package, so it is tested directly."""
