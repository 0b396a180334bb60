"""Runners: SilentRunner (in memory), LocalRunner (tracked), CloudRunner (cluster)."""
