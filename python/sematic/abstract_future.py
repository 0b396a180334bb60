"""Run states and future properties (API.md 2.4).

The states and their allowed transitions are decided by the C engine
(``src/core/graph/state.c``); ``FutureState.is_allowed_transition`` asks it.
"""
import enum
from dataclasses import dataclass, field
from typing import FrozenSet, List, Optional, Tuple, Union

from sematic import _core
from sematic.resolvers.resource_requirements import ResourceRequirements
from sematic.retry_settings import RetrySettings


class FutureState(enum.Enum):
    """The state of a future and of the run that records it."""

    CREATED = "CREATED"
    RESOLVED = "RESOLVED"
    RAN = "RAN"
    SCHEDULED = "SCHEDULED"
    FAILED = "FAILED"
    NESTED_FAILED = "NESTED_FAILED"
    RETRYING = "RETRYING"
    CANCELED = "CANCELED"

    @classmethod
    def as_object(cls, future_state: Union[str, "FutureState"]) -> "FutureState":
        """Return ``future_state`` as a FutureState, looking strings up by name."""
        if isinstance(future_state, FutureState):
            return future_state
        return FutureState[future_state]

    @classmethod
    def values(cls) -> Tuple[str, ...]:
        return tuple(state.value for state in cls)

    def is_terminal(self) -> bool:
        """True for states a run never leaves."""
        return self in _TERMINAL_STATES

    @classmethod
    def terminal_states(cls) -> FrozenSet["FutureState"]:
        return _TERMINAL_STATES

    @classmethod
    def failure_terminal_states(cls) -> FrozenSet["FutureState"]:
        return _FAILURE_TERMINAL_STATES

    @classmethod
    def terminal_state_strings(cls) -> FrozenSet[str]:
        return frozenset(state.value for state in _TERMINAL_STATES)

    @classmethod
    def is_allowed_transition(
        cls,
        from_status: Optional[Union["FutureState", str]],
        to_status: Union["FutureState", str],
    ) -> bool:
        """Whether a run may go from ``from_status`` (None: not created yet) to ``to_status``."""
        to_state = cls.as_object(to_status)
        if from_status is None:
            return to_state is FutureState.CREATED
        return _core.check_transition(
            _STATE_INDEX[cls.as_object(from_status)], _STATE_INDEX[to_state]
        )


_TERMINAL_STATES = frozenset(
    {FutureState.NESTED_FAILED, FutureState.FAILED, FutureState.RESOLVED, FutureState.CANCELED}
)
_FAILURE_TERMINAL_STATES = frozenset({FutureState.FAILED, FutureState.NESTED_FAILED})

# The engine's numbering of states (enum sm_state), and the members in that order.
STATES_BY_INDEX: Tuple[FutureState, ...] = tuple(FutureState[name] for name in _core.state_names())
_STATE_INDEX = {state: index for index, state in enumerate(STATES_BY_INDEX)}


@dataclass
class FutureProperties:
    """Properties of a future that users may read and, through ``Future.set``, change."""

    standalone: bool
    name: str
    tags: List[str] = field(default_factory=list)
    state: FutureState = FutureState.CREATED
    cache: bool = False
    resource_requirements: Optional[ResourceRequirements] = None
    retry_settings: Optional[RetrySettings] = None
    base_image_tag: Optional[str] = None
    timeout_mins: Optional[int] = None
    scheduled_epoch_time: Optional[float] = None

    def __post_init__(self) -> None:
        validate_timeout_mins(self.timeout_mins)


def validate_timeout_mins(timeout_mins: Optional[int]) -> None:
    """Raise ValueError unless ``timeout_mins`` is None or a whole number >= 1."""
    if timeout_mins is None:
        return
    if isinstance(timeout_mins, bool) or int(timeout_mins) != timeout_mins:
        raise ValueError(f"Timeouts must be an integer number of minutes, got: {timeout_mins}")
    if timeout_mins < 1:
        raise ValueError(f"Timeouts must be >=1 minutes, got: {timeout_mins}")


# Sematic's name for the base class of futures.
AbstractFuture = _core.FutureBase
