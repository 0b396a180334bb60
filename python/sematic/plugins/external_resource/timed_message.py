"""TimedMessage: a demonstration external resource."""

# Standard Library
import logging
import time
from dataclasses import dataclass, replace
from typing import Optional

# Sematic
from sematic.plugins.abstract_external_resource import (
    AbstractExternalResource,
    ResourceState,
)


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimedMessage(AbstractExternalResource):
    """A message readable only while the resource is active, for a limited time.

    Activation takes ``allocation_seconds`` and deactivation
    ``deallocation_seconds``. Once active, the message expires after
    ``max_active_seconds``, after which the resource deactivates itself.

    Attributes
    ----------
    epoch_time_activation_began: Optional[float]
        When activation began (epoch seconds); None before.
    epoch_time_deactivation_began: Optional[float]
        When deactivation began (epoch seconds); None before.
    allocation_seconds: float
        How long activation takes.
    deallocation_seconds: float
        How long deactivation takes.
    max_active_seconds: float
        How long the message stays readable once active.
    message: str
        The message.
    """

    epoch_time_activation_began: Optional[float] = None
    epoch_time_deactivation_began: Optional[float] = None
    allocation_seconds: float = 1.0
    deallocation_seconds: float = 1.0
    max_active_seconds: float = 30.0
    message: str = ""

    @classmethod
    def cloud_requires_standalone(cls) -> bool:
        """TimedMessage may be used by inline funcs under the CloudRunner.

        Returns
        -------
        bool
            False.
        """
        return False

    def read_message(self) -> str:
        """Read the message.

        Returns
        -------
        str
            The message.

        Raises
        ------
        RuntimeError
            If the resource is not ACTIVE, or the message has expired.
        """
        if self.status.state != ResourceState.ACTIVE:
            raise RuntimeError(
                f"Resource {self.id} is not active, but {self.status.state.value}"
            )
        if self._has_timed_out():
            raise RuntimeError(f"Resource {self.id} has timed out")
        return self.message

    def _has_timed_out(self) -> bool:
        if self.epoch_time_activation_began is None:
            return False
        active_since = self.epoch_time_activation_began + self.allocation_seconds
        remaining = self.max_active_seconds - (time.time() - active_since)
        logger.info("Resource still active for %s s", remaining)
        return remaining < 0

    def _with(
        self, state: ResourceState, status_message: str, **changes: object
    ) -> "TimedMessage":
        status = replace(self.status, state=state, message=status_message)
        return replace(self, status=status, **changes)  # type: ignore[arg-type]

    def _progress(
        self, target: ResourceState, began: float, duration: float, done_message: str
    ) -> "TimedMessage":
        remaining = duration - (time.time() - began)
        if remaining < 0:
            return self._with(target, done_message)
        message = f"Resource is still {self.status.state.value}. {remaining}s remain."
        logger.info(message)
        return self._with(self.status.state, message)

    def _do_activate(self, is_local: bool) -> "TimedMessage":
        logger.info("Activating %s! is_local=%s", self.id, is_local)
        return self._with(
            ResourceState.ACTIVATING,
            f"Allocating, should take {self.allocation_seconds}s to activate",
            epoch_time_activation_began=time.time(),
        )

    def _do_deactivate(self, status_message: Optional[str] = None) -> "TimedMessage":
        logger.info("Deactivating %s", self.id)
        if status_message is None:
            status_message = (
                f"Dellocating, should take {self.deallocation_seconds}s to deactivate"
            )
        return self._with(
            ResourceState.DEACTIVATING,
            status_message,
            epoch_time_deactivation_began=time.time(),
            message="",
        )

    def _do_update(self) -> "TimedMessage":
        logger.info("Updating state of %s", self.id)
        state = self.status.state
        if state == ResourceState.ACTIVATING:
            assert self.epoch_time_activation_began is not None
            return self._progress(
                ResourceState.ACTIVE,
                self.epoch_time_activation_began,
                self.allocation_seconds,
                "Resource is ready to use",
            )
        if state == ResourceState.DEACTIVATING:
            assert self.epoch_time_deactivation_began is not None
            return self._progress(
                ResourceState.DEACTIVATED,
                self.epoch_time_deactivation_began,
                self.deallocation_seconds,
                "Resource has been deactivated.",
            )
        if state == ResourceState.ACTIVE and self._has_timed_out():
            return self._do_deactivate(status_message="Resource timed out.")
        return self._with(state, "Nothing has changed...")
