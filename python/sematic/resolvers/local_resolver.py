"""Deprecated alias of LocalRunner."""

from sematic.resolver import _deprecated
from sematic.runners.local_runner import LocalRunner

LocalResolver = _deprecated(LocalRunner, "LocalResolver")
