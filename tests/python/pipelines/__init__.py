"""Pipelines that tests run in child processes (kill, resume and concurrency tests)."""
