"""Deprecated alias of CloudRunner."""

from sematic.resolver import _deprecated
from sematic.runners.cloud_runner import CloudRunner

CloudResolver = _deprecated(CloudRunner, "CloudResolver")
