"""External resources shipped with Sematic."""
