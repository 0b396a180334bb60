"""The Runner interface (API.md 1.4): what every runner offers."""
from __future__ import annotations

import abc

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from sematic.plugins.abstract_external_resource import AbstractExternalResource


class Runner(abc.ABC):
    """Abstract base class of runners: ``run(future)`` resolves a pipeline."""

    @abc.abstractmethod
    def run(self, future: Any) -> Any:
        """Resolve ``future`` (the root of a pipeline) and return its value."""

    @abc.abstractmethod
    def activate_resource_for_run(
        self, resource: AbstractExternalResource, run_id: str, root_id: str
    ) -> AbstractExternalResource:
        """Activate ``resource`` for the run ``run_id``, blocking until it is ACTIVE.

        Raises
        ------
        ExternalResourceError
            If the resource could not be activated.
        """

    @abc.abstractmethod
    def deactivate_resource(self, resource_id: str) -> AbstractExternalResource:
        """Deactivate the resource ``resource_id``, blocking until it is terminal."""

    @classmethod
    def entering_resource_context(cls, resource: AbstractExternalResource) -> None:
        """Hook: ``resource`` is ACTIVE and its ``with`` block is about to start."""

    @classmethod
    def exiting_resource_context(cls, resource_id: str) -> None:
        """Hook: the ``with`` block of ``resource_id`` is ending."""

    @classmethod
    def classpath(cls) -> str:
        """The import path of this runner class."""
        return f"{cls.__module__}.{cls.__name__}"
