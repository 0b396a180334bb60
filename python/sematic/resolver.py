"""Deprecated names from when runners were called resolvers."""
import logging
from typing import Any

from sematic.runner import Runner

logger = logging.getLogger(__name__)


class Resolver(Runner):
    """Deprecated: use ``sematic.Runner``."""

    def resolve(self, future: Any) -> Any:
        """Deprecated: use ``run(future)``."""
        logger.warning("Resolver.resolve(...) is deprecated; use runner.run(future) instead.")
        return self.run(future)


def _deprecated(runner_cls: type, name: str) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        logger.warning(
            "%s will soon be deprecated in favor of %s.", name, runner_cls.__name__
        )
        runner_cls.__init__(self, *args, **kwargs)

    def resolve(self: Any, future: Any) -> Any:
        logger.warning("%s.resolve(...) is deprecated; use runner.run(future) instead.", name)
        return self.run(future)

    return type(name, (runner_cls,), {"__init__": __init__, "resolve": resolve})
