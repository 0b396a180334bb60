"""External resources: things a Sematic func allocates for the span of a ``with`` block.

A resource is an immutable dataclass; each step of its life returns an updated
copy. Subclasses implement ``_do_activate``, ``_do_deactivate`` and
``_do_update``; the runner calls the public ``activate``, ``deactivate`` and
``update``, which validate the state transitions.

Inside a func::

    with TimedMessage(message="hi") as message:
        print(message.read_message())

entering asks the executing runner to activate the resource (it polls until
ACTIVE) and leaving asks it to deactivate the resource.
"""

# Standard Library
import logging
import time
import uuid
from dataclasses import dataclass, field, fields, replace
from enum import Enum, unique
from typing import Any, Dict, FrozenSet, Optional, Set, Tuple, TypeVar, final

# Sematic
from sematic.future_context import SematicContext, context
from sematic.utils.exceptions import (
    IllegalStateTransitionError,
    IllegalUseOfFutureError,
    NotInSematicFuncError,
)


logger = logging.getLogger(__name__)

SEMATIC_PLUGIN_AUTHOR = "github.com/sematic-ai"
_PLUGIN_VERSION = (0, 1, 0)
_DEFAULT_ACTIVATION_TIMEOUT_SECONDS = 10 * 60
_DEFAULT_DEACTIVATION_TIMEOUT_SECONDS = 5 * 60


@unique
class ResourceState(Enum):
    """The state of an external resource.

    Attributes
    ----------
    CREATED:
        Instantiated in memory; nothing was allocated yet.
    ACTIVATING:
        Being allocated; not usable yet.
    ACTIVE:
        Allocated and ready for use.
    DEACTIVATING:
        Being released; likely no longer usable.
    DEACTIVATED:
        Released (terminal).
    FORCE_KILLED:
        Forced to a terminal state by Sematic; what it held outside Sematic
        may remain. Implementations never set it themselves.
    """

    CREATED = "CREATED"
    ACTIVATING = "ACTIVATING"
    ACTIVE = "ACTIVE"
    DEACTIVATING = "DEACTIVATING"
    DEACTIVATED = "DEACTIVATED"
    FORCE_KILLED = "FORCE_KILLED"

    def is_allowed_transition(self, other_state: "ResourceState") -> bool:
        """Whether going from this state to ``other_state`` is allowed.

        Parameters
        ----------
        other_state:
            The state transitioned to.

        Returns
        -------
        bool
            True if allowed.
        """
        return other_state in _ALLOWED_TRANSITIONS[self]

    def is_terminal(self) -> bool:
        """Whether no state may follow this one.

        Returns
        -------
        bool
            True for DEACTIVATED and FORCE_KILLED.
        """
        return not _ALLOWED_TRANSITIONS[self]

    @classmethod
    def non_terminal_states(cls) -> FrozenSet["ResourceState"]:
        """The states that may be left.

        Returns
        -------
        FrozenSet[ResourceState]
            Every state but DEACTIVATED and FORCE_KILLED.
        """
        return frozenset(state for state in cls if not state.is_terminal())


_ALLOWED_TRANSITIONS: Dict[Optional[ResourceState], Set[ResourceState]] = {
    None: {ResourceState.CREATED},
    # CREATED -> DEACTIVATING: a partial activation failed and is undone.
    # CREATED -> DEACTIVATED: the resource was dropped before activation.
    ResourceState.CREATED: {
        ResourceState.ACTIVATING,
        ResourceState.DEACTIVATING,
        ResourceState.DEACTIVATED,
        ResourceState.FORCE_KILLED,
    },
    # ACTIVATING -> DEACTIVATING: activation failed.
    ResourceState.ACTIVATING: {
        ResourceState.ACTIVE,
        ResourceState.DEACTIVATING,
        ResourceState.FORCE_KILLED,
    },
    ResourceState.ACTIVE: {ResourceState.DEACTIVATING, ResourceState.FORCE_KILLED},
    ResourceState.DEACTIVATING: {
        ResourceState.DEACTIVATED,
        ResourceState.FORCE_KILLED,
    },
    ResourceState.DEACTIVATED: set(),
    ResourceState.FORCE_KILLED: set(),
}


@unique
class ManagedBy(Enum):
    """Who manages the state of a resource.

    Attributes
    ----------
    RESOLVER:
        The runner process (local activation).
    SERVER:
        The Sematic server (remote activation).
    UNKNOWN:
        Not decided yet; only before activation or after termination.
    """

    RESOLVER = "RESOLVER"
    SERVER = "SERVER"
    UNKNOWN = "UNKNOWN"


_UNMANAGED_STATES = frozenset(
    {ResourceState.CREATED, ResourceState.DEACTIVATED, ResourceState.FORCE_KILLED}
)


@dataclass(frozen=True)
class ResourceStatus:
    """The status of a resource.

    Attributes
    ----------
    state: ResourceState
        The discrete state.
    message: str
        Why the resource is in this state, for humans.
    last_update_epoch_time: int
        When the status was last checked against the real resource (epoch
        seconds); not compared by ``==``.
    managed_by: ManagedBy
        Who manages the resource.

    Raises
    ------
    IllegalStateTransitionError
        If ``managed_by`` is UNKNOWN in a state other than CREATED,
        DEACTIVATED or FORCE_KILLED.
    """

    state: ResourceState
    message: str
    last_update_epoch_time: int = field(
        default_factory=lambda: int(time.time()), compare=False
    )
    managed_by: ManagedBy = ManagedBy.UNKNOWN

    def __post_init__(self) -> None:
        if self.state not in _UNMANAGED_STATES and self.managed_by == ManagedBy.UNKNOWN:
            raise IllegalStateTransitionError(
                "Only resources in the CREATED, DEACTIVATED and FORCE_KILLED "
                "states can have managed_by==UNKNOWN"
            )


T = TypeVar("T", bound="AbstractExternalResource")


def _future_function_name(value: Any) -> Optional[str]:
    # Duck-typed so that this module does not import the future machinery.
    for klass in type(value).__mro__:
        if klass.__name__ in (
            "AbstractFuture",
            "Future",
        ) and klass.__module__.startswith("sematic"):
            return getattr(getattr(value, "function", None), "__name__", "?")
    return None


@dataclass(frozen=True)
class AbstractExternalResource:
    """Base class of resources that Sematic tracks for the funcs using them.

    Examples are small data-processing or distributed-training clusters.
    Subclasses are frozen dataclasses adding their own fields (all with
    defaults) and implementing ``_do_activate``, ``_do_deactivate`` and
    ``_do_update``. Instances are immutable: every operation returns an
    updated copy.

    Attributes
    ----------
    id: str
        A UUID (hex) identifying this resource instance.
    status: ResourceStatus
        The current status.

    Raises
    ------
    IllegalUseOfFutureError
        If a field is given a future.
    ValueError
        If ``id`` is not a UUID or ``status`` is not a ``ResourceStatus``.
    """

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: ResourceStatus = field(
        default_factory=lambda: ResourceStatus(
            state=ResourceState.CREATED,
            message="Resource has not been activated yet",
        )
    )

    def __post_init__(self) -> None:
        type_name = type(self).__name__
        for field_ in fields(self):
            func_name = _future_function_name(getattr(self, field_.name))
            if func_name is not None:
                raise IllegalUseOfFutureError(
                    f"Tried to instantiate {type_name} with a future for the "
                    f"value of the field '{field_.name}'. The future appears to be the "
                    f"return value from a call to '{func_name}'. "
                    f"If you wish to use {type_name} downstream from "
                    f"'{func_name}', consider wrapping the code "
                    f"using {type_name} in a new Sematic func and passing the "
                    f"output of {func_name} to that new func."
                )
        try:
            uuid.UUID(hex=self.id)
        except (ValueError, TypeError, AttributeError):
            raise ValueError(f"ExternalResource had an invalid uuid: '{self.id}'")
        if not isinstance(self.status, ResourceStatus):
            raise ValueError(f"ExternalResource had invalid status: '{self.status}'")

    def get_activation_timeout_seconds(self) -> float:
        """How long activation may take, in seconds (10 minutes by default).

        Returns
        -------
        float
            The timeout.
        """
        return _DEFAULT_ACTIVATION_TIMEOUT_SECONDS

    def get_deactivation_timeout_seconds(self) -> float:
        """How long deactivation may take, in seconds (5 minutes by default).

        Returns
        -------
        float
            The timeout.
        """
        return _DEFAULT_DEACTIVATION_TIMEOUT_SECONDS

    @staticmethod
    def get_author() -> str:
        """The plug-in's author.

        Returns
        -------
        str
            Contact information.
        """
        return SEMATIC_PLUGIN_AUTHOR

    @staticmethod
    def get_version() -> Tuple[int, int, int]:
        """The plug-in's version, MAJOR.MINOR.PATCH.

        Returns
        -------
        Tuple[int, int, int]
            The version.
        """
        return _PLUGIN_VERSION

    @classmethod
    def cloud_requires_standalone(cls) -> bool:
        """Whether the CloudRunner requires funcs using this resource to be standalone.

        Returns
        -------
        bool
            True by default.
        """
        return True

    @final
    def activate(self: T, is_local: bool) -> T:
        """Start allocating the resource.

        Parameters
        ----------
        is_local:
            True to allocate a local version of the resource (managed by the
            runner); False when the server allocates it. Implementations that
            cannot run locally may raise ``NotImplementedError``.

        Returns
        -------
        AbstractExternalResource
            An updated copy, ACTIVATING (or DEACTIVATING if allocation failed).

        Raises
        ------
        IllegalStateTransitionError
            If ``_do_activate`` made a forbidden transition.
        """
        logger.debug("Activating %s", self)
        managed = replace(
            self,
            status=replace(
                self.status,
                managed_by=ManagedBy.RESOLVER if is_local else ManagedBy.SERVER,
                last_update_epoch_time=int(time.time()),
            ),
        )
        updated = managed._do_activate(is_local)
        self.validate_transition(updated)
        if updated.status.state not in (
            ResourceState.ACTIVATING,
            ResourceState.DEACTIVATING,
        ):
            raise IllegalStateTransitionError(
                "Calling .activate() did not leave the resource in the "
                "ACTIVATING or DEACTIVATING state."
            )
        return updated

    def _do_activate(self: T, is_local: bool) -> T:
        raise NotImplementedError(
            "Subclasses of ExternalResource should implement ._do_activate(is_local)"
        )

    @final
    def deactivate(self: T) -> T:
        """Start releasing the resource.

        A resource that was never activated goes straight to DEACTIVATED.

        Returns
        -------
        AbstractExternalResource
            An updated copy, DEACTIVATING (or DEACTIVATED).

        Raises
        ------
        IllegalStateTransitionError
            If ``_do_deactivate`` made a forbidden transition.
        """
        if self.status.state == ResourceState.CREATED:
            logger.warning(
                "Deactivating resource before it was ever activated: %s", self.id
            )
            updated = self._with_status(
                ResourceState.DEACTIVATED, "Resource activation was canceled."
            )
        else:
            logger.debug("Deactivating %s", self)
            updated = self._do_deactivate()
            if updated.status.state != ResourceState.DEACTIVATING:
                raise IllegalStateTransitionError(
                    "Calling .deactivate() did not leave the resource in the "
                    "DEACTIVATING state."
                )
        self.validate_transition(updated)
        return updated

    def _do_deactivate(self: T) -> T:
        raise NotImplementedError(
            "Subclasses of ExternalResource should implement ._do_deactivate()"
        )

    @final
    def update(self: T) -> T:
        """Query the real resource and return an up-to-date copy.

        Returns
        -------
        AbstractExternalResource
            The copy, with ``status.last_update_epoch_time`` set to now.

        Raises
        ------
        IllegalStateTransitionError
            If ``_do_update`` made a forbidden transition.
        """
        logger.debug("Updating %s", self)
        updated = self._do_update()
        updated = replace(
            updated,
            status=replace(updated.status, last_update_epoch_time=int(time.time())),
        )
        self.validate_transition(updated)
        return updated

    def _do_update(self: T) -> T:
        raise NotImplementedError(
            "Subclasses of ExternalResource should implement _do_update"
        )

    def validate_transition(self, updated: "AbstractExternalResource") -> None:
        """Check that this resource may become ``updated``.

        Parameters
        ----------
        updated:
            The new version of the resource.

        Raises
        ------
        IllegalStateTransitionError
            If the id changes, the state transition is forbidden, the update
            time goes back, or ``managed_by`` changes once decided.
        """
        before, after = self.status, updated.status
        if self.id != updated.id:
            raise IllegalStateTransitionError(
                f"Cannot change id of resource from {self.id} to {updated.id}"
            )
        if before.state != after.state and not before.state.is_allowed_transition(
            after.state
        ):
            raise IllegalStateTransitionError(
                f"Cannot transition resource {self.id} from state "
                f"{before.state.name} to state: {after.state.name}"
            )
        if before.last_update_epoch_time > after.last_update_epoch_time:
            raise IllegalStateTransitionError(
                "Cannot change last_update_epoch_time to a time in the past. "
                f"Current update time: {before.last_update_epoch_time}. New "
                f"update time: {after.last_update_epoch_time}"
            )
        if before.managed_by not in (after.managed_by, ManagedBy.UNKNOWN):
            raise IllegalStateTransitionError(
                "Cannot change managed_by once it is no longer UNKNOWN. "
                f"Current managed_by: {before.managed_by}. New "
                f"managed_by: {after.managed_by}"
            )

    def _with_status(self: T, state: ResourceState, message: str) -> T:
        return replace(
            self,
            status=replace(
                self.status,
                last_update_epoch_time=int(time.time()),
                state=state,
                message=message,
            ),
        )

    def __enter__(self: T) -> T:
        try:
            ctx: SematicContext = context()
        except NotInSematicFuncError:
            raise NotInSematicFuncError(
                f"Called `with {type(self).__name__}(...)`, but the call was not "
                "made while executing a Sematic func."
            ) from None
        runner = ctx.private.resource_runner()
        try:
            updated: T = runner.activate_resource_for_run(
                resource=self, run_id=ctx.run_id, root_id=ctx.root_id
            )
            if updated.status.state != ResourceState.ACTIVE:
                raise IllegalStateTransitionError(
                    f"Runner {runner} failed to activate {updated}."
                )
            _call_hook(runner, "entering_resource_context", resource=updated)
            return updated
        except Exception:
            # Release whatever was allocated; an error doing so replaces the
            # activation error (which stays attached as __context__).
            self.__exit__()
            raise

    def __exit__(
        self,
        exc_type: Optional[type] = None,
        exc_value: Optional[BaseException] = None,
        exc_traceback: Any = None,
    ) -> None:
        ctx = context()
        runner = ctx.private.resource_runner()
        _call_hook(runner, "exiting_resource_context", resource_id=self.id)
        # By id: `self` is the copy the `with` started from; the runner holds
        # the latest one.
        deactivated = runner.deactivate_resource(self.id)
        if deactivated.status.state != ResourceState.DEACTIVATED:
            raise IllegalStateTransitionError(
                f"Runner {runner} failed to deactivate {deactivated}."
            )


def _call_hook(runner: Any, name: str, **kwargs: Any) -> None:
    hook = getattr(runner, name, None)
    if hook is not None:
        hook(**kwargs)
