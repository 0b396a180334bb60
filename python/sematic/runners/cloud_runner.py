"""CloudRunner: pipelines on a cluster (not in this build yet)."""
from typing import Any

from sematic.runners.local_runner import LocalRunner
from sematic.utils.exceptions import UnsupportedUsageError


class CloudRunner(LocalRunner):
    """A Runner that executes standalone funcs as cluster jobs.

    Not available in this build yet: cluster execution lands with the Slurm executor.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        max_parallelism = kwargs.get("max_parallelism")
        if max_parallelism is not None and max_parallelism < 1:
            raise ValueError(
                f"max_parallelism must be a positive integer or None. Got: {max_parallelism}"
            )
        raise UnsupportedUsageError(
            "CloudRunner is not available yet in Sematic-in-C: cluster execution is not "
            "built yet; use sematic.SilentRunner() to run the pipeline in this process"
        )
