"""Helpers for testing Sematic pipelines."""

# Sematic
from sematic.testing.mock_funcs import SematicFuncMock, mock_sematic_funcs


__all__ = ["SematicFuncMock", "mock_sematic_funcs"]
