"""SilentRunner over the C engine: resolution, nesting, failures, retries, timeouts (API.md 2.1-2.7; §9 items 13-15, 17, 19, 23-26, 29)."""
import os
import signal
import threading
import time
from typing import List, Tuple, Union

import pytest

import sematic
from sematic import _core
from sematic.abstract_future import FutureState
from sematic.utils.exceptions import CancellationError, FunctionError, PipelineRunError


@sematic.func
def add(a: float, b: float) -> float:
    return a + b


@sematic.func
def add3(a: float, b: float, c: float) -> float:
    return add(add(a, b), c)


@sematic.func
def pipeline(a: float, b: float) -> float:
    sum1 = add(a, b)
    sum2 = add(b, a)
    sum3 = add(a, b)
    return add3(sum1, sum2, sum3)


@sematic.func
def foo() -> str:
    return "foo"


@sematic.func
def bar() -> str:
    return "bar"


def run(future):
    return sematic.SilentRunner().run(future)


def test_silent_runner__resolves_the_nested_add_pipeline():
    result = run(pipeline(3, 5))
    assert result == 24
    assert type(result) is float


def test_silent_runner__nested_futures_record_parent_and_nested_links():
    root = add3(1, 2, 3)
    assert run(root) == 6
    nested = root.nested_future
    assert nested is not None
    assert nested.parent_future is root
    assert nested.state is FutureState.RESOLVED
    assert root.state is FutureState.RESOLVED
    assert root.value == 6


def test_silent_runner__returned_list_of_futures_resolves_to_values():
    @sematic.func
    def f() -> List[str]:
        return [foo(), bar(), "baz"]

    assert run(f()) == ["foo", "bar", "baz"]


def test_silent_runner__returned_tuple_of_futures_resolves_to_values():
    @sematic.func
    def f() -> Tuple[str, str, int]:
        return foo(), bar(), 3

    assert run(f()) == ("foo", "bar", 3)


def test_silent_runner__nested_lists_of_futures_resolve():
    @sematic.func
    def f() -> List[Union[str, List[str]]]:
        return [foo(), [bar(), foo()], "x"]

    assert run(f()) == ["foo", ["bar", "foo"], "x"]


def test_silent_runner__mixed_tuples_with_lists_and_futures_resolve():
    @sematic.func
    def forty_two() -> int:
        return 42

    @sematic.func
    def f() -> Tuple[int, List[int], Tuple[str, str], str]:
        return forty_two(), [1, forty_two(), 3], (foo(), bar()), foo()

    assert run(f()) == (42, [1, 42, 3], ("foo", "bar"), "foo")


def test_silent_runner__list_argument_of_futures_becomes_a_make_list():
    @sematic.func
    def total(xs: List[float]) -> float:
        return sum(xs)

    future = total([add(1, 2), 3.0, add(4, 5)])
    assert future.kwargs["xs"].function.__name__ == "_make_list"

    @sematic.func
    def pipeline() -> float:
        return total([add(1, 2), 3.0, add(4, 5)])

    assert run(pipeline()) == 15.0


def test_silent_runner__failure_raises_pipeline_run_error_chained_to_the_user_error():
    @sematic.func
    def fails() -> int:
        raise ValueError("this is the cause")

    future = fails()
    with pytest.raises(PipelineRunError) as e:
        run(future)
    assert isinstance(e.value.__context__, FunctionError)
    assert isinstance(e.value.__context__.__context__, ValueError)
    assert str(e.value).startswith("The pipeline run failed due to previous errors!\n\nPipeline failure:\n")
    assert "ValueError: this is the cause" in str(e.value)
    assert future.state is FutureState.FAILED


def test_silent_runner__child_failure_marks_ancestors_nested_failed_and_cancels_the_rest():
    @sematic.func
    def fails(x: float) -> float:
        raise ValueError("no")

    @sematic.func
    def slow_sibling(x: float) -> float:
        return x

    @sematic.func
    def parent(x: float) -> float:
        return add(fails(x), slow_sibling(x))

    root = parent(1)
    with pytest.raises(PipelineRunError):
        run(root)
    assert root.state is FutureState.NESTED_FAILED
    stats = root._graph.stats()
    assert stats["FAILED"] == 1
    assert stats["NESTED_FAILED"] == 1
    assert stats["CREATED"] == 0 and stats["SCHEDULED"] == 0 and stats["RAN"] == 0
    assert stats["CANCELED"] >= 1


def test_silent_runner__output_of_wrong_type_fails_with_a_type_error():
    @sematic.func
    def lies() -> str:
        return 3

    with pytest.raises(PipelineRunError) as e:
        run(lies())
    assert isinstance(e.value.__context__, TypeError)
    assert str(e.value.__context__) == (
        f"Invalid output type for '{__name__}.lies'. Cannot cast 3 to <class 'str'>: "
        "Cannot cast 3 to <class 'str'>"
    )


def test_silent_runner__unused_future_fails_the_pipeline():
    @sematic.func
    def wasteful() -> str:
        bar()
        return foo()

    with pytest.raises(PipelineRunError, match="output.*does not depend on") as e:
        run(wasteful())
    assert "The output of 'wasteful' does not depend on the output of  'bar'" in str(e.value.__context__)


def test_silent_runner__returning_every_created_future_is_fine():
    @sematic.func
    def frugal() -> List[str]:
        a = foo()
        b = bar()
        return [a, b]

    assert run(frugal()) == ["foo", "bar"]


def test_silent_runner__root_inputs_must_be_concrete():
    with pytest.raises(ValueError, match="All input arguments of your root function should be concrete."):
        run(add(add(1, 2), 3))


def test_silent_runner__context_gives_run_and_root_ids_and_runner_class():
    seen = {}

    @sematic.func
    def inner() -> str:
        ctx = sematic.context()
        seen["inner_run"] = ctx.run_id
        seen["root"] = ctx.root_id
        seen["runner_class"] = ctx.private.load_runner_class()
        return "x"

    @sematic.func
    def outer() -> str:
        seen["outer_run"] = sematic.context().run_id
        return inner()

    root = outer()
    assert run(root) == "x"
    assert seen["root"] == root.id
    assert seen["outer_run"] == root.id
    assert seen["inner_run"] == root.nested_future.id
    assert seen["runner_class"] is sematic.SilentRunner


def test_silent_runner__runner_run_inside_a_func_fails_the_pipeline():
    @sematic.func
    def sneaky() -> str:
        return sematic.SilentRunner().run(foo())

    with pytest.raises(PipelineRunError) as e:
        run(sneaky())
    assert "You have called runner.run(...) within a Sematic func" in str(e.value)


def test_silent_runner__retries_an_always_failing_func_then_fails():
    attempts = []

    class Flaky(Exception):
        pass

    @sematic.func(retry=sematic.RetrySettings(exceptions=(Flaky,), retries=3))
    def always_fails() -> int:
        attempts.append(1)
        raise Flaky("again")

    future = always_fails()
    with pytest.raises(PipelineRunError):
        run(future)
    assert len(attempts) == 4
    assert future.props.retry_settings.retry_count == 3
    assert future.state is FutureState.FAILED


def test_silent_runner__retry_succeeds_when_the_failure_stops():
    attempts = []

    @sematic.func(retry=sematic.RetrySettings(exceptions=(KeyError,), retries=5))
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise KeyError("not yet")
        return len(attempts)

    assert run(flaky()) == 3


def test_silent_runner__exceptions_not_listed_are_not_retried():
    attempts = []

    @sematic.func(retry=sematic.RetrySettings(exceptions=(KeyError,), retries=5))
    def fails() -> int:
        attempts.append(1)
        raise ValueError("not retryable")

    with pytest.raises(PipelineRunError):
        run(fails())
    assert len(attempts) == 1


@pytest.fixture
def short_minutes():
    """Make a timeout minute last 100 ms, so timeouts are exercised quickly."""
    old = _core.set_ms_per_minute(100)
    yield
    _core.set_ms_per_minute(old)


def test_silent_runner__a_func_over_its_timeout_fails_with_timeout_error(short_minutes):
    @sematic.func(timeout_mins=1)
    def sleepy() -> int:
        time.sleep(5)
        return 1

    started = time.monotonic()
    with pytest.raises(PipelineRunError, match="TimeoutError") as e:
        run(sleepy())
    assert time.monotonic() - started < 4
    assert "The Sematic function sleepy did not complete in time to satisfy its 1 minute timeout." in str(e.value)


def test_silent_runner__a_grandchild_fails_by_its_ancestors_timeout(short_minutes):
    @sematic.func
    def grandchild() -> int:
        time.sleep(5)
        return 1

    @sematic.func
    def child() -> int:
        return grandchild()

    @sematic.func(timeout_mins=2)
    def ancestor() -> int:
        return child()

    with pytest.raises(PipelineRunError, match="TimeoutError") as e:
        run(ancestor())
    assert (
        "The Sematic function grandchild did not complete in time to satisfy the 2 minute "
        "timeout specified by its ancestor ancestor." in str(e.value)
    )


def test_silent_runner__deep_chain_does_not_hit_the_recursion_limit():
    @sematic.func
    def inc(x: int) -> int:
        return x + 1

    @sematic.func
    def chain(n: int) -> int:
        x = 0
        for _ in range(n):
            x = inc(x)
        return x

    assert run(chain(20000)) == 20000


def test_silent_runner__deep_nesting_does_not_hit_the_recursion_limit():
    @sematic.func
    def countdown(n: int) -> int:
        if n == 0:
            return 0
        return countdown(n - 1)

    assert run(countdown(5000)) == 0


def test_silent_runner__fan_out_into_a_reducer():
    @sematic.func
    def square(x: int) -> int:
        return x * x

    @sematic.func
    def total(xs: List[int]) -> int:
        return sum(xs)

    @sematic.func
    def fan(n: int) -> int:
        return total([square(i) for i in range(n)])

    assert run(fan(1000)) == sum(i * i for i in range(1000))


def test_silent_runner__dynamic_branching_on_upstream_values():
    @sematic.func
    def half(x: int) -> int:
        return x // 2

    @sematic.func
    def triple_plus_one(x: int) -> int:
        return 3 * x + 1

    @sematic.func
    def collatz(x: int, steps: int) -> int:
        if x == 1:
            return steps
        nxt = half(x) if x % 2 == 0 else triple_plus_one(x)
        return collatz(nxt, steps + 1)

    assert run(collatz(27, 0)) == 111


def test_silent_runner__sigint_cancels_the_pipeline():
    @sematic.func
    def interrupted() -> int:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        return 1

    @sematic.func
    def root() -> int:
        return add(interrupted(), 1)

    assert threading.current_thread() is threading.main_thread()
    future = root()
    with pytest.raises(CancellationError, match="Pipeline run cancelled due to signal 2"):
        run(future)
    stats = future._graph.stats()
    assert stats["CANCELED"] >= 2
    assert future.state is FutureState.CANCELED
    assert stats["SCHEDULED"] == 0 and stats["RAN"] == 0


def test_silent_runner__futures_of_a_finished_pipeline_can_feed_a_new_one():
    first = add(1, 2)
    assert run(first) == 3
    assert run(first) == 3


def test_deprecated_resolvers__still_run_pipelines():
    assert sematic.SilentResolver().resolve(add(1, 1)) == 2
    assert issubclass(sematic.SilentResolver, sematic.SilentRunner)


def test_cloud_runner__says_it_is_not_available_yet():
    with pytest.raises(Exception, match="CloudRunner is not available yet"):
        sematic.CloudRunner()


def test_silent_runner__external_resources_live_only_inside_their_with_block():
    from sematic.plugins.abstract_external_resource import ResourceState

    seen = []

    @sematic.func
    def uses_resources() -> str:
        first = sematic.TimedMessage(message="one", allocation_seconds=0, deallocation_seconds=0)
        with first as active:
            seen.append((active.status.state, active.read_message()))
        second = sematic.TimedMessage(message="two", allocation_seconds=0, deallocation_seconds=0)
        with second as active:
            seen.append((active.status.state, active.read_message()))
        return "done"

    runner = sematic.SilentRunner()
    assert runner.run(uses_resources()) == "done"
    assert seen == [(ResourceState.ACTIVE, "one"), (ResourceState.ACTIVE, "two")]
    states = [r.status.state for r in runner._resource_manager.resources()]
    assert states == [ResourceState.DEACTIVATED, ResourceState.DEACTIVATED]


def test_silent_runner__sigterm_cancels_the_pipeline_and_restores_the_handler():
    @sematic.func
    def terminated() -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        return 1

    before = signal.getsignal(signal.SIGTERM)
    future = terminated()
    started = time.monotonic()
    with pytest.raises(CancellationError, match="^Pipeline run cancelled due to signal 15$"):
        run(future)
    assert time.monotonic() - started < 4
    assert future.state is FutureState.CANCELED
    assert signal.getsignal(signal.SIGTERM) is before


def test_silent_runner__pipelines_in_two_threads_run_side_by_side():
    barrier = threading.Barrier(2, timeout=10)

    @sematic.func
    def meet(x: int) -> int:
        barrier.wait()  # both bodies are executing at once from here
        return x

    @sematic.func
    def double(x: int) -> int:
        return 2 * x

    @sematic.func
    def pipeline(x: int) -> int:
        return double(meet(x))

    results, errors = {}, []

    def worker(x: int) -> None:
        try:
            root = pipeline(x)
            results[x] = (sematic.SilentRunner().run(root), root.nested_future.parent_future is root)
        except BaseException as e:  # reported below, with the thread's exception
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(x,)) for x in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert results == {1: (2, True), 2: (4, True)}


def test_silent_runner__context_works_in_a_helper_thread_of_a_body():
    seen = {}

    @sematic.func
    def with_helper() -> str:
        def helper() -> None:
            seen["run_id"] = sematic.context().run_id

        t = threading.Thread(target=helper)
        t.start()
        t.join(timeout=10)
        return "done"

    root = with_helper()
    assert run(root) == "done"
    assert seen["run_id"] == root.id


def _n_graphs() -> int:
    import gc

    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is _core.Graph)


def test_futures__are_handles_with_identity_while_held_and_graphs_are_freed():
    before = _n_graphs()

    def run_and_drop() -> None:
        root = add3(1, 2, 3)
        assert run(root) == 6
        nested = root.nested_future
        assert root.nested_future is nested
        assert nested.parent_future is root
        assert nested.kwargs["a"].function is add

    run_and_drop()
    assert _n_graphs() == before


def test_silent_runner__a_late_body_outside_the_main_thread_still_times_out(short_minutes):
    @sematic.func(timeout_mins=1)
    def slow() -> int:
        time.sleep(0.3)  # 3 "minutes" of 100 ms; SIGALRM cannot reach this thread
        return 1

    outcome = {}

    def worker() -> None:
        try:
            outcome["value"] = run(slow())
        except PipelineRunError as e:
            outcome["error"] = e

    t = threading.Thread(target=worker)
    t.start()
    t.join(timeout=30)
    assert "value" not in outcome
    assert "did not complete in time to satisfy its 1 minute timeout" in str(outcome["error"])


class RecordingRunner(sematic.SilentRunner):
    """A runner that listens to every state change, as tracked runners will."""

    def __init__(self) -> None:
        super().__init__()
        self.transitions = []

    def _transition_hook(self):
        from sematic.abstract_future import STATES_BY_INDEX

        def record(future, from_state, to_state):
            self.transitions.append(
                (future.function.__name__, STATES_BY_INDEX[from_state].value, STATES_BY_INDEX[to_state].value)
            )

        return record

    def of(self, name):
        return [to for fn, _, to in self.transitions if fn == name]


def test_transition_hook__sees_every_state_change_in_order():
    runner = RecordingRunner()
    assert runner.run(add3(1, 2, 3)) == 6
    assert runner.of("add3") == ["SCHEDULED", "RAN", "RESOLVED"]
    assert runner.of("add") == ["SCHEDULED", "RESOLVED", "SCHEDULED", "RESOLVED"]
    froms = {(fn, frm, to) for fn, frm, to in runner.transitions}
    assert ("add3", "RAN", "RESOLVED") in froms


def test_transition_hook__sees_failure_propagation_and_retries():
    class Boom(Exception):
        pass

    @sematic.func(retry=sematic.RetrySettings(exceptions=(Boom,), retries=1))
    def boom() -> float:
        raise Boom()

    @sematic.func
    def parent() -> float:
        return add(boom(), 1.0)

    runner = RecordingRunner()
    with pytest.raises(PipelineRunError):
        runner.run(parent())
    assert runner.of("boom") == ["SCHEDULED", "RETRYING", "SCHEDULED", "FAILED"]
    assert runner.of("parent") == ["SCHEDULED", "RAN", "NESTED_FAILED"]
    assert runner.of("add") == ["CANCELED"]


def test_transition_hook__an_error_in_the_hook_stops_the_run_with_that_error():
    class Refusing(sematic.SilentRunner):
        def _transition_hook(self):
            def refuse(future, from_state, to_state):
                raise RuntimeError("the store is full")

            return refuse

    root = add3(1, 2, 3)
    with pytest.raises(RuntimeError, match="^the store is full$"):
        Refusing().run(root)
    assert root.state is FutureState.CANCELED
