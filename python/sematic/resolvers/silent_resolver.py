"""Deprecated alias of SilentRunner."""

from sematic.resolver import _deprecated
from sematic.runners.silent_runner import SilentRunner

SilentResolver = _deprecated(SilentRunner, "SilentResolver")
