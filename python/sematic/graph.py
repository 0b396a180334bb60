"""Rerun modes of tracked runners (API.md 2.9)."""
import enum


class RerunMode(enum.Enum):
    """How a rerun reuses the runs of an earlier pipeline run."""

    SPECIFIC_RUN = "SPECIFIC_RUN"
    CONTINUE = "CONTINUE"
    REENTER = "REENTER"
