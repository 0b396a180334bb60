"""Run states and future properties (API.md 2.4).

The states and their allowed transitions are decided by the C engine
(``src/core/graph/state.c``); ``FutureState.is_allowed_transition`` asks it.
"""
from __future__ import annotations

import enum

from sematic import _core

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import FrozenSet, Optional, Tuple, Union

    from sematic._future_properties import FutureProperties


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


def validate_timeout_mins(timeout_mins: Optional[int]) -> None:
    """Raise ValueError unless ``timeout_mins`` is None or a whole number >= 1."""
    if timeout_mins is None:
        return
    if isinstance(timeout_mins, bool) or int(timeout_mins) != timeout_mins:
        raise ValueError(f"Timeouts must be an integer number of minutes, got: {timeout_mins}")
    if timeout_mins < 1:
        raise ValueError(f"Timeouts must be >=1 minutes, got: {timeout_mins}")


# Sematic's name for the base class of futures.
AbstractFuture = _core.Future


def __getattr__(name: str):
    # FutureProperties is a dataclass: defined on first use, so that importing
    # this module (and sematic) does not import dataclasses.
    if name == "FutureProperties":
        from sematic._future_properties import FutureProperties

        globals()[name] = FutureProperties
        return FutureProperties
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
