"""In-memory tracking, activation and deactivation of external resources.

Used by the in-process runners. ``activate`` and ``deactivate`` block,
polling the resource until it is ACTIVE or terminal, within the resource's
own timeouts; failures raise ``ExternalResourceError`` with Sematic's
messages.
"""

# Standard Library
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Set, Tuple, TypeVar, Union

# Sematic
from sematic.plugins.abstract_external_resource import (
    AbstractExternalResource,
    ManagedBy,
    ResourceState,
)
from sematic.utils.exceptions import ExternalResourceError


logger = logging.getLogger(__name__)

R = TypeVar("R", bound=AbstractExternalResource)

# Sematic polls every second; a shorter interval only costs _do_update calls.
DEFAULT_POLL_INTERVAL_SECONDS = 0.1


@dataclass
class _Record:
    resource: AbstractExternalResource
    # (run id, root id) pairs; one run per resource today, as in Sematic's DB.
    runs: Set[Tuple[str, str]] = field(default_factory=set)


class ResourceManager:
    """Keeps the latest copy of each external resource and drives its life cycle.

    Parameters
    ----------
    poll_interval_seconds:
        Pause between two updates of a resource while it activates or
        deactivates.
    clock:
        Monotonic time source, in seconds (tests may replace it).
    sleep:
        Sleep function (tests may replace it).
    """

    def __init__(
        self,
        poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.poll_interval_seconds = poll_interval_seconds
        self._clock = clock
        self._sleep = sleep
        self._records: Dict[str, _Record] = {}
        self._lock = threading.RLock()

    # Storage ---------------------------------------------------------------

    def save(self, resource: AbstractExternalResource) -> None:
        """Record ``resource`` as the latest copy of its id.

        Parameters
        ----------
        resource:
            The resource.

        Raises
        ------
        ValueError
            If the resource is managed by the server.
        """
        if resource.status.managed_by == ManagedBy.SERVER:
            raise ValueError(
                "In-memory resource manager can't manage remotely managed resources"
            )
        with self._lock:
            record = self._records.get(resource.id)
            if record is None:
                self._records[resource.id] = _Record(resource)
            else:
                record.resource = resource

    def get(self, resource_id: str) -> AbstractExternalResource:
        """The latest copy of a resource.

        Parameters
        ----------
        resource_id:
            The resource's id.

        Returns
        -------
        AbstractExternalResource
            The resource.

        Raises
        ------
        KeyError
            If no resource has this id.
        """
        with self._lock:
            return self._records[resource_id].resource

    def link(self, resource_id: str, run_id: str, root_id: str) -> None:
        """Associate a saved resource with the run using it.

        Parameters
        ----------
        resource_id:
            The resource's id.
        run_id:
            The run (future) using it.
        root_id:
            That run's root run.
        """
        with self._lock:
            self._records[resource_id].runs.add((run_id, root_id))

    def resources_by_root_id(self, root_id: str) -> List[AbstractExternalResource]:
        """The resources used by the runs of a pipeline run.

        Parameters
        ----------
        root_id:
            The root run's id.

        Returns
        -------
        List[AbstractExternalResource]
            Their latest copies, in order of first save.
        """
        with self._lock:
            return [
                record.resource
                for record in self._records.values()
                if any(root == root_id for _, root in record.runs)
            ]

    def resources(self) -> List[AbstractExternalResource]:
        """All resources, in order of first save.

        Returns
        -------
        List[AbstractExternalResource]
            Their latest copies.
        """
        with self._lock:
            return [record.resource for record in self._records.values()]

    # Sematic's AbstractResourceManager names, used by ported tests.
    get_resource_for_id = get
    save_resource = save
    link_resource_to_run = link

    # Life cycle --------------------------------------------------------------

    def activate(
        self,
        resource: R,
        run_id: str,
        is_local: bool = True,
        root_id: Optional[str] = None,
    ) -> R:
        """Activate a resource for a run, blocking until it is ACTIVE.

        Parameters
        ----------
        resource:
            The resource, usually CREATED.
        run_id:
            The run using it.
        is_local:
            Whether the runner (True) or the server (False) manages it.
        root_id:
            The run's root run (defaults to ``run_id``).

        Returns
        -------
        AbstractExternalResource
            The ACTIVE copy (also saved).

        Raises
        ------
        ExternalResourceError
            "Could not activate ..." if ``activate`` raised or the resource
            ended in a terminal state; "Timed out activating ..." after
            ``resource.get_activation_timeout_seconds()``.
        """
        logger.debug("Activating resource '%s' for run '%s'", resource.id, run_id)
        self.save(resource)
        self.link(resource.id, run_id, run_id if root_id is None else root_id)
        started = self._clock()
        try:
            resource = resource.activate(is_local=is_local)
        except Exception as e:
            raise ExternalResourceError(
                f"Could not activate resource with id {resource.id}: {e}"
            ) from e
        self.save(resource)
        timeout = resource.get_activation_timeout_seconds()

        while True:
            resource = self._update(resource)
            if resource.status.state == ResourceState.ACTIVE:
                return resource
            if resource.status.state.is_terminal():
                raise ExternalResourceError(
                    f"Could not activate resource with id {resource.id}: "
                    f"{resource.status.message}"
                )
            if self._clock() - started > timeout:
                raise ExternalResourceError(
                    f"Timed out activating resource with id {resource.id}. "
                    f"Last update message: {resource.status.message}"
                )
            self._sleep(self.poll_interval_seconds)

    def deactivate(
        self, resource: Union[AbstractExternalResource, str]
    ) -> AbstractExternalResource:
        """Deactivate a resource, blocking until it is terminal.

        Already terminal resources are returned as they are.

        Parameters
        ----------
        resource:
            The resource or its id; the latest saved copy is used if there is one.

        Returns
        -------
        AbstractExternalResource
            The terminal copy (also saved).

        Raises
        ------
        ExternalResourceError
            "Could not deactivate ..." if ``deactivate`` raised or the id is
            unknown; "Timed out deactivating ..." after
            ``resource.get_deactivation_timeout_seconds()``.
        """
        current = self._latest(resource)
        logger.debug("Deactivating resource '%s'", current.id)
        if current.status.state.is_terminal():
            return current
        started = self._clock()
        try:
            current = current.deactivate()
        except Exception as e:
            raise ExternalResourceError(
                f"Could not deactivate resource with id {current.id}: {e}"
            ) from e
        self.save(current)
        timeout = current.get_deactivation_timeout_seconds()

        while not current.status.state.is_terminal():
            current = self._update(current)
            if current.status.state.is_terminal():
                break
            if self._clock() - started > timeout:
                raise ExternalResourceError(
                    f"Timed out deactivating resource with id {current.id}. "
                    f"Last update message: {current.status.message}"
                )
            self._sleep(self.poll_interval_seconds)
        return current

    def deactivate_all(self, root_id: Optional[str] = None) -> List[str]:
        """Deactivate every non-terminal resource (of one pipeline run, if given).

        Used when a pipeline run fails or is cancelled. Errors are logged, not
        raised.

        Parameters
        ----------
        root_id:
            Restrict to the resources of this root run.

        Returns
        -------
        List[str]
            The ids of the resources that failed to deactivate.
        """
        candidates = (
            self.resources() if root_id is None else self.resources_by_root_id(root_id)
        )
        active = [r for r in candidates if not r.status.state.is_terminal()]
        if not active:
            return []
        logger.warning(
            "Deactivating all %s resource(s) due to pipeline run failure.", len(active)
        )
        failed = []
        for resource in active:
            try:
                self.deactivate(resource.id)
            except Exception as e:
                logger.error("Failed to deactivate resource %s: %s", resource.id, e)
                failed.append(resource.id)
        if failed:
            logger.error(
                "Failed to deactivate resources with ids: %s", ", ".join(failed)
            )
        return failed

    def _latest(
        self, resource: Union[AbstractExternalResource, str]
    ) -> AbstractExternalResource:
        resource_id = resource if isinstance(resource, str) else resource.id
        with self._lock:
            record = self._records.get(resource_id)
        if record is not None:
            return record.resource
        if isinstance(resource, str):
            raise ExternalResourceError(
                f"Could not deactivate resource with id {resource_id}: the runner "
                "has no record of it (was it activated by this runner?)"
            )
        return resource

    def _update(self, resource: R) -> R:
        # An update that fails (e.g. a transient network error) is retried at
        # the next poll, until the timeout.
        try:
            resource = resource.update()
        except Exception as e:
            logger.error(
                "Error getting latest state from resource %s: %s", resource.id, e
            )
        self.save(resource)
        return resource
