"""LocalRunner: tracked runs over the embedded store (not in this build yet)."""
from typing import Any, Callable, Optional, Union

from sematic.graph import RerunMode
from sematic.runners.silent_runner import SilentRunner
from sematic.utils.exceptions import UnsupportedUsageError


class LocalRunner(SilentRunner):
    """A Runner that records every run, artifact and edge in the local store.

    Not available in this build yet: tracking lands with the embedded store.
    """

    def __init__(
        self,
        cache_namespace: Optional[Union[str, Callable[[Any], str]]] = None,
        rerun_from: Optional[str] = None,
        rerun_mode: Optional[RerunMode] = None,
        **kwargs: Any,
    ) -> None:
        raise UnsupportedUsageError(
            "LocalRunner is not available yet in Sematic-in-C: it needs the embedded "
            "store, which is not built yet; use sematic.SilentRunner() to run the "
            "pipeline in memory"
        )
