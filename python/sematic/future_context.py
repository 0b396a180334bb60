"""The context of the Sematic func being executed: ``sematic.context()``.

Runners enter ``set_context(ctx)`` around each func body. The context lives
in a ``contextvars.ContextVar``, so runners executing funcs concurrently in
different threads each see their own. A thread started by a func body does
not inherit the variable; ``context()`` called there still answers when
exactly one func is executing in the process (the usual case).
"""

# Standard Library
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import InitVar, dataclass, field
from importlib import import_module
from typing import Any, Dict, Iterator, List, Optional, Type

# Sematic
from sematic.utils.exceptions import NotInSematicFuncError


FUTURE_ALGEBRA_DOC_LINK = "https://docs.sematic.dev/diving-deeper/future-algebra"

# Why runner.run() is refused inside a func body (Sematic's text).
RUN_INSIDE_FUNC_MESSAGE = (
    "You have called runner.run(...) within a Sematic func. Usually people "
    "do this when they have a future object and want it to be resolved to "
    "an actual value in the middle of a Sematic func's body for usage "
    "downstream. If this is your use-case, consider wrapping the downstream "
    "logic in a new Sematic func and passing the unresolved future into it. "
    "Sematic will ensure that the future is resolved before it starts the "
    f"new func. For more information, read {FUTURE_ALGEBRA_DOC_LINK}"
)

# A runner class or instance. Typed loosely: the runner modules import this one.
Runner = Any


@dataclass(frozen=True)
class PrivateContext:
    """Information for Sematic itself about the func being executed; not for users.

    Attributes
    ----------
    runner_class_path: str
        The import path of the runner's class, e.g.
        ``"sematic.runners.silent_runner.SilentRunner"``.
    is_standalone: bool
        Whether the func runs in its own job (a worker process).
    created_futures: List[object]
        Futures created while the func body runs (for the unused-future check).
    runner: InitVar[Optional[object]]
        The runner instance, when the runner keeps per-instance state such as
        external resources; ``resource_runner()`` prefers it to the class. It
        is kept out of the dataclass fields, so it is neither compared, nor
        serialized, nor pickled.
    resolver_class_path: InitVar[Optional[str]]
        Older name of ``runner_class_path``, accepted at construction.

    Raises
    ------
    ValueError
        If neither a runner class path nor a runner is given.
    """

    runner_class_path: str = ""
    is_standalone: bool = False
    # `object`, not `Any`: a SematicContext may be a func's output, and the
    # type system accepts `object` fields.
    created_futures: List[object] = field(default_factory=list)
    runner: InitVar[Optional[object]] = None
    resolver_class_path: InitVar[Optional[str]] = None

    def __post_init__(
        self, runner: Optional[object], resolver_class_path: Optional[str]
    ) -> None:
        object.__setattr__(self, "_runner", runner)
        if not self.runner_class_path:
            if resolver_class_path:
                path = resolver_class_path
            elif runner is not None:
                klass = type(runner)
                path = f"{klass.__module__}.{klass.__qualname__}"
            else:
                raise ValueError(
                    "PrivateContext needs the runner: pass runner_class_path="
                    "'<module>.<RunnerClass>' (or runner=<runner instance>)."
                )
            object.__setattr__(self, "runner_class_path", path)

    def __getstate__(self) -> Dict[str, object]:
        # The runner instance stays in its process.
        return {k: v for k, v in self.__dict__.items() if k != "_runner"}

    def load_runner_class(self) -> Type[Runner]:
        """Import the runner's class.

        Returns
        -------
        Type[Runner]
            The class named by ``runner_class_path``.

        Raises
        ------
        ImportError
            If the module or the class cannot be found.
        """
        module_name, _, class_name = self.runner_class_path.rpartition(".")
        runner_class: Optional[Type[Runner]] = getattr(import_module(module_name), class_name, None)
        if runner_class is None:
            raise ImportError(f"No class named '{class_name}' in {module_name}")
        return runner_class

    # Sematic < 0.31 called the runner a resolver.
    load_resolver_class = load_runner_class

    def resource_runner(self) -> Runner:
        """The object whose ``activate_resource_for_run`` manages external resources.

        Returns
        -------
        Runner
            The runner instance if known, else the runner class.
        """
        runner = getattr(self, "_runner", None)
        return runner if runner is not None else self.load_runner_class()


@dataclass(frozen=True)
class SematicContext:
    """Information about the execution of the current Sematic func.

    Attributes
    ----------
    run_id: str
        The id of the future (run) being executed.
    root_id: str
        The id of the root future (root run) of the pipeline run.
    private: PrivateContext
        Information for Sematic itself.
    """

    run_id: str
    root_id: str
    private: PrivateContext


_current: ContextVar[Optional[SematicContext]] = ContextVar(
    "sematic_context", default=None
)
# Contexts active in the process, for threads that do not see `_current`.
_active: List[SematicContext] = []
_active_lock = threading.Lock()


@contextmanager
def set_context(ctx: SematicContext) -> Iterator[None]:
    """Make ``ctx`` the current context while a func body runs. For runners only.

    Parameters
    ----------
    ctx:
        The context of the func about to run.

    Raises
    ------
    RuntimeError
        If a context is already set here, i.e. ``runner.run(...)`` was called
        from within a Sematic func.
    ValueError
        If ``ctx`` is not a ``SematicContext``.
    """
    if _current.get() is not None:
        raise RuntimeError(RUN_INSIDE_FUNC_MESSAGE)
    if not isinstance(ctx, SematicContext):
        raise ValueError(f"Expecting a `SematicContext`, got: {ctx}")

    token = _current.set(ctx)
    with _active_lock:
        _active.append(ctx)
    try:
        yield
    finally:
        with _active_lock:
            # Remove this very object (equal contexts may be active elsewhere).
            for index, active in enumerate(_active):
                if active is ctx:
                    del _active[index]
                    break
        _current.reset(token)


def context() -> SematicContext:
    """Get the context of the executing Sematic func: its run id and root run id.

    Use it to link records in an external system to the Sematic run.

    Returns
    -------
    SematicContext
        The context of the Sematic func being executed.

    Raises
    ------
    NotInSematicFuncError
        If no Sematic func is being executed.
    """
    ctx = _current.get()
    if ctx is not None:
        return ctx
    ctx = _engine_context()
    if ctx is not None:
        return ctx
    with _active_lock:
        if len(_active) == 1:
            return _active[0]
    raise NotInSematicFuncError(
        "context() must be called from within the execution of a Sematic function, "
        "in the root process that function was invoked from."
    )


def _engine_context() -> Optional[SematicContext]:
    """The context of the run the C engine is executing in this process, if any.

    Built on demand, so running a func costs no context object unless its body asks.
    """
    from sematic import _core

    current = _core.current_run()
    if current is None:
        return None
    future, root, runner = current
    return SematicContext(
        run_id=future.id,
        root_id=root.id,
        private=PrivateContext(
            runner_class_path=f"{type(runner).__module__}.{type(runner).__qualname__}",
            is_standalone=False,
            runner=runner,
        ),
    )


def local_context() -> Optional[SematicContext]:
    """The context set in this thread/task by ``set_context``, without fallback.

    For Sematic internals (e.g. recording futures created by a func body),
    where a context set in another thread must not be used.

    Returns
    -------
    Optional[SematicContext]
        The context, or None outside a func body.
    """
    return _current.get()


def in_sematic_func() -> bool:
    """Whether a Sematic func is being executed here (see ``context()``).

    Returns
    -------
    bool
        True inside a func body.
    """
    try:
        context()
    except NotInSematicFuncError:
        return False
    return True
