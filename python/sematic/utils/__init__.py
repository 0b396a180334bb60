"""Internal helpers of the Sematic SDK."""
