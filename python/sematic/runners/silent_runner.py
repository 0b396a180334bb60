"""SilentRunner: resolve a pipeline in this process, in memory, tracking nothing.

The loop, the states, retries, timeouts and failure propagation are the C
engine's (``_core.run``); this class checks the root, runs the engine, turns
a failure into PipelineRunError and cleans up external resources.
"""
from __future__ import annotations

from sematic import _core
from sematic.abstract_future import FutureState
from sematic.future import Future
from sematic.runner import Runner
from sematic.utils.exceptions import (
    CancellationError,
    PipelineRunError,
    format_exception_for_run,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from sematic.plugins.abstract_external_resource import AbstractExternalResource
    from sematic.runners._resources import ResourceManager


class _Terminated(KeyboardInterrupt):
    """SIGTERM during a run: cancels the pipeline run like SIGINT (API.md 2.6)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated(signum)


def _catch_sigterm() -> Any:
    """Turn SIGTERM into a cancellation while a run goes on; the previous handler, or None.

    Only the main thread may set signal handlers; elsewhere SIGTERM keeps its handler.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    import signal

    return signal.signal(signal.SIGTERM, _raise_terminated)


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        import signal

        signal.signal(signal.SIGTERM, previous)


class _NoCapture:
    """A context manager that does nothing (without importing contextlib)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: Any) -> None:
        return None


_NO_CAPTURE = _NoCapture()


class _LazyResourceManager:
    """``runner._resource_manager``: a ResourceManager created on first use.

    Pipelines that use no external resource never import the resource
    machinery (dataclasses, logging, uuid). Assigning the attribute works as
    for a plain instance attribute (this descriptor defines no ``__set__``).
    """

    def __get__(self, runner: Any, owner: Any = None) -> Any:
        if runner is None:
            return self
        from sematic.runners._resources import ResourceManager

        manager = runner.__dict__["_resource_manager"] = ResourceManager()
        return manager


class SilentRunner(Runner):
    """A Runner that resolves a pipeline in memory, without tracking to a store."""

    _resource_manager: ResourceManager = _LazyResourceManager()  # type: ignore[assignment]

    def __init__(self) -> None:
        self._root_future: Optional[Future] = None

    def run(self, future: Future) -> Any:
        """Resolve ``future`` and return its value.

        Raises
        ------
        PipelineRunError
            When a run of the pipeline failed; the failure is its ``__context__``.
        CancellationError
            When the run was interrupted (SIGINT).
        """
        if _core.in_body():
            from sematic.future_context import RUN_INSIDE_FUNC_MESSAGE

            raise RuntimeError(RUN_INSIDE_FUNC_MESSAGE)
        if not isinstance(future, Future):
            raise TypeError(
                f"runner.run() expects the Future returned by calling a Sematic func, "
                f"got {type(future).__name__}: {future!r}"
            )
        if future.state == FutureState.RESOLVED:
            return future.value
        if any(isinstance(value, Future) for value in future.kwargs.values()):
            raise ValueError("All input arguments of your root function should be concrete.")

        self._root_future = future
        recorder = self._make_recorder(future)
        previous_sigterm = _catch_sigterm()
        try:
            with self._capture():
                ok, outcome = _core.run(future, self, self._transition_hook(), recorder)
        except KeyboardInterrupt as e:
            signum = getattr(e, "signum", 2)
            raise CancellationError(f"Pipeline run cancelled due to signal {signum}") from e
        finally:
            _restore_sigterm(previous_sigterm)
            self._cleanup()
            self._close_recorder()
        if ok:
            return outcome
        self._raise_failure(outcome)

    @staticmethod
    def _raise_failure(exception: Optional[BaseException]) -> None:
        if exception is None:
            raise PipelineRunError(None)
        try:
            raise exception
        except BaseException as e:
            raise PipelineRunError(format_exception_for_run(e))

    def _make_recorder(self, future: Future) -> Any:
        """The _core.Recorder that persists this run, or None (SilentRunner keeps nothing)."""
        return None

    def _close_recorder(self) -> None:
        """Commit and close what _make_recorder() opened."""

    def _capture(self) -> Any:
        """A context manager around the run (LocalRunner captures logs there)."""
        return _NO_CAPTURE

    def _transition_hook(self) -> Optional[Callable[[Future, int, int], None]]:
        """A callable for every state change, or None when nothing listens (the fast path)."""
        return None

    def _cleanup(self) -> None:
        # Nothing to deactivate when no resource manager was ever created.
        if self._root_future is not None and "_resource_manager" in self.__dict__:
            try:
                self._resource_manager.deactivate_all()
            except Exception:
                import logging

                logging.getLogger(__name__).exception(
                    "Could not deactivate the external resources"
                )

    # External resources -----------------------------------------------------

    def activate_resource_for_run(
        self, resource: AbstractExternalResource, run_id: str, root_id: str
    ) -> AbstractExternalResource:
        return self._resource_manager.activate(resource, run_id, is_local=True, root_id=root_id)

    def deactivate_resource(self, resource_id: str) -> AbstractExternalResource:
        return self._resource_manager.deactivate(resource_id)
