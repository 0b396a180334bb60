"""Tests of the SDK modules that do not need the engine.

Retry settings, resource requirements, exceptions, the func context,
container images, external resources and their in-memory manager, and the
mocking of func bodies. The expected messages are Sematic 0.41's.
"""

# Standard Library
import builtins
import pickle
import re
import threading
from dataclasses import FrozenInstanceError, dataclass, fields, replace
from typing import Any, Callable, List, Optional

# Third-party
import pytest

# Sematic
from sematic.container_images import get_image_uris, has_container_image
from sematic.future_context import (
    PrivateContext,
    SematicContext,
    context,
    in_sematic_func,
    local_context,
    set_context,
)
from sematic.plugins.abstract_external_resource import (
    AbstractExternalResource,
    ManagedBy,
    ResourceState,
    ResourceStatus,
)
from sematic.plugins.external_resource.timed_message import TimedMessage
from sematic.plugins.kuberay_wrapper.standard import StandardKuberayWrapper
from sematic.resolvers.resource_requirements import (
    KubernetesCapabilities,
    KubernetesHostPathMount,
    KubernetesResourceRequirements,
    KubernetesSecretMount,
    KubernetesSecurityContext,
    KubernetesToleration,
    KubernetesTolerationEffect,
    KubernetesTolerationOperator,
    ResourceRequirements,
    SlurmResourceRequirements,
)
from sematic.retry_settings import RetrySettings
from sematic.runners._resources import ResourceManager
from sematic.utils.exceptions import (
    CancellationError,
    ExceptionMetadata,
    ExternalResourceError,
    FunctionError,
    IllegalStateTransitionError,
    IllegalUseOfFutureError,
    KubernetesError,
    MissingPluginError,
    NotInSematicFuncError,
    PipelineRunError,
    ResolutionError,
    TimeoutError,
    UnsupportedUsageError,
    format_exception_for_run,
)
from sematic.versions import (
    CURRENT_VERSION,
    MIN_CLIENT_SERVER_SUPPORTS,
    SEMATIC_C_VERSION,
    __version__,
    string_version_to_tuple,
    version_as_string,
)


# Versions ---------------------------------------------------------------------


def test_versions():
    assert CURRENT_VERSION == (0, 41, 0)
    assert MIN_CLIENT_SERVER_SUPPORTS == (0, 30, 0)
    assert __version__ == "0.41.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+", SEMATIC_C_VERSION)
    assert version_as_string((1, 2, 3)) == "1.2.3"
    assert string_version_to_tuple("0.41.0rc2") == (0, 41, 0)
    with pytest.raises(ValueError, match="at least three digits"):
        string_version_to_tuple("1.2")


# Retry settings ---------------------------------------------------------------


class RetryableError(Exception):
    pass


class SpecificRetryableError(RetryableError):
    pass


def test_retry_settings_validation():
    with pytest.raises(ValueError, match="exceptions should be a tuple, got"):
        RetrySettings(exceptions=ValueError, retries=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="only contain exception classes.*'oops'"):
        RetrySettings(exceptions=("oops",), retries=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retries should be an int"):
        RetrySettings(exceptions=(ValueError,), retries="3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retries should be >= 0.*retries=0"):
        RetrySettings(exceptions=(ValueError,), retries=-1)
    for exceptions in ([ValueError], {ValueError}, (ValueError,), ()):
        assert RetrySettings(exceptions=exceptions, retries=1).retry_count == 0


def test_retry_count_is_not_a_constructor_argument():
    with pytest.raises(TypeError):
        RetrySettings(exceptions=(ValueError,), retries=1, retry_count=1)  # type: ignore


def test_should_retry_matches_instances_and_subclasses():
    settings = RetrySettings(exceptions=(RetryableError,), retries=2)
    assert settings.should_retry(RetryableError())
    assert settings.should_retry(SpecificRetryableError())
    assert not settings.should_retry(ValueError())
    assert settings.should_retry(ValueError(), SpecificRetryableError())
    assert not settings.should_retry()
    assert not settings.should_retry(None, None)


def test_should_retry_respects_the_budget():
    settings = RetrySettings(exceptions=(RetryableError,), retries=2)
    attempts = 1
    while settings.should_retry(RetryableError()):
        settings.retry_count += 1
        attempts += 1
    assert attempts == 3
    assert settings.retry_count == 2
    assert not settings.should_retry(RetryableError())
    assert settings.exception_matches(RetryableError())
    assert not settings.exception_matches(KeyError())
    assert not RetrySettings(exceptions=(RetryableError,), retries=0).should_retry(
        RetryableError()
    )


def test_should_retry_matches_by_class_path():
    # The same class defined again (as when unpickled in another process
    # where the module was re-imported) is matched by module and name.
    Twin = type("RetryableError", (Exception,), {"__module__": __name__})
    Twin.__qualname__ = RetryableError.__qualname__
    settings = RetrySettings(exceptions=(RetryableError,), retries=1)
    assert settings.should_retry(Twin())
    SubOfTwin = type("Sub", (Twin,), {"__module__": "elsewhere"})
    assert settings.should_retry(SubOfTwin())
    Stranger = type("RetryableError", (Exception,), {"__module__": "elsewhere"})
    assert not settings.should_retry(Stranger())


def test_should_retry_with_exception_metadata():
    settings = RetrySettings(exceptions=(RetryableError,), retries=1)
    assert settings.should_retry(
        ExceptionMetadata.from_exception(SpecificRetryableError())
    )
    assert not settings.should_retry(ExceptionMetadata.from_exception(KeyError("k")))
    recorded = ExceptionMetadata(
        repr="...",
        name="Other",
        module="remote",
        ancestors=[f"{__name__}.RetryableError"],
    )
    assert settings.should_retry(recorded)


# Resource requirements --------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(key=1), "key must be None or a string, got: 1"),
        (
            dict(operator="Equal"),
            "operator must be a .*KubernetesTolerationOperator.*Use",
        ),
        (
            dict(effect="NoSchedule"),
            "effect must be a .*KubernetesTolerationEffect.*Use",
        ),
        (dict(value=2), "value must be None or a string, got: 2"),
        (
            dict(effect=KubernetesTolerationEffect.NoExecute, toleration_seconds="5"),
            "toleration_seconds must be None or an int, got: 5",
        ),
        (
            dict(toleration_seconds=5),
            "toleration_seconds should only be specified when the effect is NoExecute.",
        ),
    ],
)
def test_toleration_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KubernetesToleration(**kwargs)


def test_toleration_api_keyword_args():
    assert KubernetesToleration(key="gpu").to_api_keyword_args() == dict(
        effect=None, key="gpu", operator="Equal", toleration_seconds=None, value=None
    )
    toleration = KubernetesToleration(
        key="k",
        operator=KubernetesTolerationOperator.Exists,
        effect=KubernetesTolerationEffect.NoExecute,
        toleration_seconds=30,
    )
    assert toleration.to_api_keyword_args() == dict(
        effect="NoExecute",
        key="k",
        operator="Exists",
        toleration_seconds=30,
        value=None,
    )


def test_host_path_mount_names():
    assert (
        KubernetesHostPathMount("/a", "/data/my_dir x").name == "volume-data-my-dir-x"
    )
    assert KubernetesHostPathMount("/a", "/data", name="mine").name == "mine"
    long = KubernetesHostPathMount("/a", "/" + "x" * 100)
    assert len(long.name) == 64 and long.name.startswith("volume-xxx")
    other = KubernetesHostPathMount("/a", "/" + "x" * 100)
    assert other.name != long.name  # random suffix
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", long.name)
    with pytest.raises(ValueError, match="pod_mount_path must be a non-empty path"):
        KubernetesHostPathMount("/a", "")


def test_kubernetes_requirements():
    requirements = KubernetesResourceRequirements(
        node_selector={"a": "b"},
        requests={"cpu": "1"},
        secret_mounts=KubernetesSecretMount(environment_secrets={"k": "ENV"}),
        tolerations=[KubernetesToleration(key="gpu")],
        security_context=KubernetesSecurityContext(
            allow_privilege_escalation=False,
            privileged=False,
            capabilities=KubernetesCapabilities(add=["SYS_PTRACE"]),
        ),
        host_path_mounts=[KubernetesHostPathMount("/n", "/p")],
    )
    assert requirements.secret_mounts.file_secret_root_path == "/secrets"
    with pytest.raises(FrozenInstanceError):
        requirements.requests = {}  # type: ignore[misc]
    clone = requirements.clone()
    assert clone == requirements
    clone.requests["cpu"] = "2"
    clone.tolerations.append(KubernetesToleration())
    assert requirements.requests == {"cpu": "1"}
    assert len(requirements.tolerations) == 1
    with pytest.raises(
        ValueError, match="tolerations must be a list of KubernetesToleration"
    ):
        KubernetesResourceRequirements(tolerations=[{"key": "gpu"}])  # type: ignore
    with pytest.raises(ValueError, match="requests must be a dict"):
        KubernetesResourceRequirements(requests=["cpu"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cpus=0), r"cpus must be an int >= 1, got: 0\. Use e\.g\. cpus=4\."),
        (dict(cpus=True), "cpus must be an int >= 1, got: True"),
        (dict(memory_mb=0), "memory_mb must be None or an int >= 1.*in MiB"),
        (dict(gpus=-1), "gpus must be an int >= 0, got: -1. Use gpus=0"),
        (dict(time_limit_mins=0.5), "time_limit_mins must be None or an int >= 1"),
        (dict(partition=""), "partition must be None or a non-empty string"),
        (dict(extra_args="--exclusive"), "extra_args must be a list of strings"),
    ],
)
def test_slurm_requirements_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SlurmResourceRequirements(**kwargs)


def test_resource_requirements():
    default = ResourceRequirements()
    assert default.kubernetes == KubernetesResourceRequirements()
    assert default.slurm is None
    slurm = SlurmResourceRequirements(
        cpus=4,
        memory_mb=1024,
        gpus=1,
        time_limit_mins=10,
        partition="p",
        extra_args=["-x"],
    )
    requirements = ResourceRequirements(slurm=slurm)
    clone = requirements.clone()
    assert clone == requirements and clone.slurm is not slurm
    clone.slurm.extra_args.append("-y")  # type: ignore[union-attr]
    assert slurm.extra_args == ["-x"]
    with pytest.raises(
        ValueError, match="kubernetes must be a KubernetesResourceRequirements"
    ):
        ResourceRequirements(kubernetes={"requests": {}})  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match="slurm must be None or a SlurmResourceRequirements"
    ):
        ResourceRequirements(slurm={"cpus": 2})  # type: ignore[arg-type]


# Exceptions -------------------------------------------------------------------


def test_exception_classes():
    assert issubclass(TimeoutError, RuntimeError)
    assert TimeoutError is not builtins.TimeoutError
    assert issubclass(NotInSematicFuncError, RuntimeError)
    assert issubclass(KubernetesError, Exception)
    assert issubclass(ExternalResourceError, Exception)
    assert not issubclass(CancellationError, RuntimeError)
    assert ResolutionError is PipelineRunError
    assert str(MissingPluginError("a.B")) == (
        "Unable to find plug-in a.B. Module or class is missing."
    )


def test_exception_metadata():
    metadata = ExceptionMetadata.from_exception(SpecificRetryableError("boom"))
    assert metadata == ExceptionMetadata(
        repr="boom",
        name="SpecificRetryableError",
        module=__name__,
        ancestors=[f"{__name__}.RetryableError", "builtins.Exception"],
    )
    assert metadata.is_instance_of(SpecificRetryableError)
    assert metadata.is_instance_of(RetryableError)
    assert metadata.is_instance_of(Exception)
    assert not metadata.is_instance_of(KeyError)
    assert ExceptionMetadata.ancestors_from_exception(KeyError) == [
        "builtins.LookupError",
        "builtins.Exception",
    ]
    assert ExceptionMetadata.ancestors_from_exception(KeyboardInterrupt()) == []


def _raise_function_error() -> FunctionError:
    def user_code():
        raise ValueError("user failure")

    try:
        try:
            user_code()
        except ValueError as e:
            raise FunctionError("Error from running user_code") from e
    except FunctionError as error:
        return error
    raise AssertionError("unreachable")


def test_format_exception_for_run():
    assert format_exception_for_run() is None

    metadata = format_exception_for_run(_raise_function_error())
    assert metadata is not None
    assert (metadata.name, metadata.module) == ("ValueError", "builtins")
    assert metadata.ancestors == ["builtins.Exception"]
    assert "in user_code" in metadata.repr
    assert metadata.repr.endswith("ValueError: user failure\n")
    assert "FunctionError" not in metadata.repr

    try:
        raise KeyError("k")
    except KeyError:
        metadata = format_exception_for_run()
    assert metadata is not None and metadata.name == "KeyError"
    assert metadata.repr.startswith("Traceback (most recent call last):")

    # Formats the given exception even outside an except block.
    metadata = format_exception_for_run(ValueError("x"))
    assert metadata is not None and metadata.repr == "ValueError: x\n"


def test_pipeline_run_error_message():
    assert str(PipelineRunError()) == "The pipeline run failed due to previous errors!"
    metadata = format_exception_for_run(_raise_function_error())
    error = PipelineRunError(metadata)
    assert str(error) == (
        "The pipeline run failed due to previous errors!\n\nPipeline failure:\n"
        + metadata.repr  # type: ignore[union-attr]
    )
    assert str(error).startswith(
        "The pipeline run failed due to previous errors!\n\n"
        "Pipeline failure:\nTraceback (most recent call last):\n"
    )
    external = ExceptionMetadata(repr="pod evicted", name="KubernetesError", module="m")
    both = PipelineRunError(metadata, external)
    assert str(both).endswith("\n\nExternal failure:\npod evicted")
    only_external = PipelineRunError(external_exception_metadata=external)
    assert str(only_external) == (
        "The pipeline run failed due to previous errors!\n\nExternal failure:\npod evicted"
    )
    assert both._msg == str(both)
    copy = pickle.loads(pickle.dumps(both))
    assert str(copy) == str(both) and copy.exception_metadata == metadata


# Func context -----------------------------------------------------------------


NOT_IN_FUNC = (
    "context() must be called from within the execution of a Sematic function, "
    "in the root process that function was invoked from."
)


class FakeRunner:
    """A runner class whose resource methods delegate to a ResourceManager."""

    manager = ResourceManager(poll_interval_seconds=0.001)
    calls: List[str] = []

    @classmethod
    def activate_resource_for_run(cls, resource, run_id, root_id):
        cls.calls.append(f"activate {resource.id}")
        return cls.manager.activate(resource, run_id, is_local=True, root_id=root_id)

    @classmethod
    def deactivate_resource(cls, resource_id):
        cls.calls.append(f"deactivate {resource_id}")
        return cls.manager.deactivate(resource_id)

    @classmethod
    def entering_resource_context(cls, resource):
        cls.calls.append(f"entering {resource.id}")

    @classmethod
    def exiting_resource_context(cls, resource_id):
        cls.calls.append(f"exiting {resource_id}")


FAKE_RUNNER_PATH = f"{__name__}.FakeRunner"


def _context(run_id="run", root_id="root", **private) -> SematicContext:
    private.setdefault("runner_class_path", FAKE_RUNNER_PATH)
    return SematicContext(
        run_id=run_id, root_id=root_id, private=PrivateContext(**private)
    )


def test_context_outside_a_func():
    with pytest.raises(NotInSematicFuncError) as info:
        context()
    assert str(info.value) == NOT_IN_FUNC
    assert not in_sematic_func()
    assert local_context() is None


def test_set_context():
    ctx = _context()
    with set_context(ctx):
        assert context() is ctx
        assert local_context() is ctx
        assert in_sematic_func()
        assert ctx.private.load_runner_class() is FakeRunner
        assert ctx.private.load_resolver_class() is FakeRunner
        assert ctx.private.created_futures == []
        assert not ctx.private.is_standalone
    with pytest.raises(NotInSematicFuncError):
        context()


def test_set_context_is_restored_after_errors():
    with pytest.raises(KeyError):
        with set_context(_context()):
            raise KeyError("x")
    assert local_context() is None


def test_nested_set_context_is_a_nested_run():
    with set_context(_context()):
        with pytest.raises(
            RuntimeError, match=r"You have called runner\.run\(\.\.\.\) within"
        ):
            with set_context(_context()):
                pass
        assert context().run_id == "run"


def test_set_context_validates_its_argument():
    with pytest.raises(ValueError, match="Expecting a `SematicContext`, got: 3"):
        with set_context(3):  # type: ignore[arg-type]
            pass


def test_private_context_variants():
    runner = FakeRunner()
    assert PrivateContext(resolver_class_path="a.B").runner_class_path == "a.B"
    by_instance = PrivateContext(runner=runner)
    assert by_instance.runner_class_path == FAKE_RUNNER_PATH
    assert by_instance.resource_runner() is runner
    assert (
        PrivateContext(runner_class_path=FAKE_RUNNER_PATH).resource_runner()
        is FakeRunner
    )
    # The instance is no dataclass field: not compared, serialized or pickled.
    assert [f.name for f in fields(PrivateContext)] == [
        "runner_class_path",
        "is_standalone",
        "created_futures",
    ]
    assert by_instance == PrivateContext(runner_class_path=FAKE_RUNNER_PATH)
    unpickled = pickle.loads(pickle.dumps(by_instance))
    assert unpickled == by_instance
    assert unpickled.resource_runner() is FakeRunner
    with pytest.raises(ValueError, match="PrivateContext needs the runner"):
        PrivateContext()
    with pytest.raises(ImportError, match="No class named 'Nope' in sematic.versions"):
        PrivateContext(runner_class_path="sematic.versions.Nope").load_runner_class()


def test_contexts_are_per_thread_with_a_fallback_for_helper_threads():
    seen: List[Any] = []

    def helper():
        seen.append(context().run_id)
        seen.append(local_context())

    ctx = _context(run_id="outer")
    with set_context(ctx):
        thread = threading.Thread(target=helper)
        thread.start()
        thread.join()
    assert seen == ["outer", None]

    # Two funcs executing at once in different threads each see their own.
    barrier = threading.Barrier(2)
    results: List[str] = []

    def runner_thread(run_id):
        with set_context(_context(run_id=run_id)):
            barrier.wait()
            results.append(context().run_id)
            barrier.wait()

    threads = [threading.Thread(target=runner_thread, args=(r,)) for r in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["a", "b"]


# Container images ---------------------------------------------------------------


def test_container_images(monkeypatch):
    monkeypatch.delenv("SEMATIC_CONTAINER_IMAGE", raising=False)
    monkeypatch.delenv("SEMATIC_CONTAINER_IMAGE_URIS", raising=False)
    assert not has_container_image()
    monkeypatch.setenv("SEMATIC_CONTAINER_IMAGE_URIS", "default##img:1::cuda##img:2")
    assert has_container_image()
    assert get_image_uris() == {"default": "img:1", "cuda": "img:2"}
    monkeypatch.setenv("SEMATIC_CONTAINER_IMAGE", "img:0")
    assert get_image_uris() == {"default": "img:0"}
    monkeypatch.delenv("SEMATIC_CONTAINER_IMAGE")
    monkeypatch.setenv("SEMATIC_CONTAINER_IMAGE_URIS", "")
    assert not has_container_image()
    monkeypatch.setenv("SEMATIC_CONTAINER_IMAGE_URIS", "img:3")
    with pytest.raises(ValueError, match="expected 'tag##image_uri'"):
        has_container_image()


# External resources -------------------------------------------------------------


_history: List[AbstractExternalResource] = []


@dataclass(frozen=True)
class FakeResource(AbstractExternalResource):
    """Records every copy of itself; misbehaves on demand."""

    value: int = 0
    raise_on_activate: bool = False
    raise_on_deactivate: bool = False
    raise_on_update: bool = False
    slow_activate: bool = False
    slow_deactivate: bool = False
    fail_activation: bool = False
    activation_timeout: float = 5.0
    deactivation_timeout: float = 5.0

    def __post_init__(self):
        super().__post_init__()
        _history.append(self)

    def get_activation_timeout_seconds(self) -> float:
        return self.activation_timeout

    def get_deactivation_timeout_seconds(self) -> float:
        return self.deactivation_timeout

    def use(self) -> int:
        assert self.status.state == ResourceState.ACTIVE
        return self.value

    def _set(self, state: ResourceState, message: str) -> "FakeResource":
        return replace(self, status=replace(self.status, state=state, message=message))

    def _do_activate(self, is_local: bool) -> "FakeResource":
        if self.raise_on_activate:
            raise ValueError("Intentional fail")
        return self._set(ResourceState.ACTIVATING, f"activating, is_local={is_local}")

    def _do_deactivate(self) -> "FakeResource":
        if self.raise_on_deactivate:
            raise ValueError("Intentional fail")
        return self._set(ResourceState.DEACTIVATING, "deactivating")

    def _do_update(self) -> "FakeResource":
        if self.raise_on_update:
            raise ValueError("Intentional fail")
        state = self.status.state
        if state == ResourceState.ACTIVATING and self.fail_activation:
            return self._set(ResourceState.DEACTIVATING, "no capacity left")
        if state == ResourceState.ACTIVATING and not self.slow_activate:
            return self._set(ResourceState.ACTIVE, "ready")
        if state == ResourceState.DEACTIVATING and not self.slow_deactivate:
            return self._set(ResourceState.DEACTIVATED, "cleaned")
        return self._set(state, "Nothing has changed...")


def _states(resource_id: str) -> List[ResourceState]:
    states: List[ResourceState] = []
    for resource in _history:
        if resource.id == resource_id and (
            not states or states[-1] != resource.status.state
        ):
            states.append(resource.status.state)
    return states


LIFE_CYCLE = [
    ResourceState.CREATED,
    ResourceState.ACTIVATING,
    ResourceState.ACTIVE,
    ResourceState.DEACTIVATING,
    ResourceState.DEACTIVATED,
]


@pytest.fixture
def manager():
    _history.clear()
    return ResourceManager(poll_interval_seconds=0.001)


def test_resource_state_transitions():
    assert ResourceState.CREATED.is_allowed_transition(ResourceState.ACTIVATING)
    assert not ResourceState.ACTIVE.is_allowed_transition(ResourceState.ACTIVATING)
    assert ResourceState.DEACTIVATED.is_terminal()
    assert ResourceState.FORCE_KILLED.is_terminal()
    assert ResourceState.non_terminal_states() == {
        ResourceState.CREATED,
        ResourceState.ACTIVATING,
        ResourceState.ACTIVE,
        ResourceState.DEACTIVATING,
    }


def test_resource_validation():
    with pytest.raises(ValueError, match="ExternalResource had an invalid uuid: 'abc'"):
        FakeResource(id="abc")
    with pytest.raises(ValueError, match="ExternalResource had invalid status"):
        FakeResource(status="ACTIVE")  # type: ignore[arg-type]
    with pytest.raises(IllegalStateTransitionError, match="managed_by==UNKNOWN"):
        ResourceStatus(state=ResourceState.ACTIVE, message="")
    assert ResourceStatus(
        ResourceState.ACTIVE, "", 1, ManagedBy.RESOLVER
    ) == ResourceStatus(ResourceState.ACTIVE, "", 2, ManagedBy.RESOLVER)
    Future = type(
        "Future",
        (),
        {"__module__": "sematic.future", "function": TimedMessage.read_message},
    )
    with pytest.raises(
        IllegalUseOfFutureError,
        match="Tried to instantiate FakeResource with a future for the value of the "
        "field 'value'.*'read_message'",
    ):
        FakeResource(value=Future())  # type: ignore[arg-type]


def test_resource_transition_checks():
    created = FakeResource()
    with pytest.raises(IllegalStateTransitionError, match="Cannot change id"):
        created.validate_transition(FakeResource())
    activating = created.activate(is_local=True)
    assert activating.status.managed_by == ManagedBy.RESOLVER
    with pytest.raises(
        IllegalStateTransitionError,
        match="Cannot transition resource .* from state ACTIVATING to state: CREATED",
    ):
        activating.validate_transition(activating._set(ResourceState.CREATED, ""))
    with pytest.raises(IllegalStateTransitionError, match="to a time in the past"):
        activating.validate_transition(
            replace(
                activating, status=replace(activating.status, last_update_epoch_time=0)
            )
        )
    with pytest.raises(IllegalStateTransitionError, match="Cannot change managed_by"):
        activating.validate_transition(
            replace(
                activating,
                status=replace(activating.status, managed_by=ManagedBy.SERVER),
            )
        )
    # Deactivating a resource that was never activated cancels it.
    cancelled = FakeResource().deactivate()
    assert cancelled.status.state == ResourceState.DEACTIVATED
    assert cancelled.status.message == "Resource activation was canceled."


def test_manager_life_cycle(manager):
    resource = FakeResource(value=3)
    active = manager.activate(resource, "run", is_local=True, root_id="root")
    assert active.status.state == ResourceState.ACTIVE
    assert active.status.message == "ready"
    assert manager.get(resource.id) == active
    assert manager.get_resource_for_id(resource.id) == active
    assert manager.resources_by_root_id("root") == [active]
    assert manager.resources_by_root_id("other") == []
    done = manager.deactivate(resource.id)
    assert done.status.state == ResourceState.DEACTIVATED
    assert manager.get(resource.id) == done
    assert _states(resource.id) == LIFE_CYCLE
    # Deactivating again is a no-op.
    assert manager.deactivate(done) == done


def test_manager_with_timed_message(manager):
    message = TimedMessage(
        message="hello", allocation_seconds=0.02, deallocation_seconds=0.02
    )
    with pytest.raises(RuntimeError, match="is not active, but CREATED"):
        message.read_message()
    active = manager.activate(message, "run", is_local=True)
    assert active.read_message() == "hello"
    assert active.status.message == "Resource is ready to use"
    assert manager.resources_by_root_id("run") == [active]  # root defaults to run
    done = manager.deactivate(active)
    assert done.status.state == ResourceState.DEACTIVATED
    assert done.status.message == "Resource has been deactivated."
    assert done.message == ""
    with pytest.raises(RuntimeError, match="is not active, but DEACTIVATED"):
        done.read_message()


def test_timed_message_expires(manager):
    message = TimedMessage(
        message="m", allocation_seconds=0, deallocation_seconds=0, max_active_seconds=0
    )
    active = manager.activate(message, "run")
    with pytest.raises(RuntimeError, match="has timed out"):
        active.read_message()
    expired = active.update()
    assert expired.status.state == ResourceState.DEACTIVATING
    assert expired.status.message == "Resource timed out."


def test_manager_rejects_server_managed_resources(manager):
    with pytest.raises(ValueError, match="can't manage remotely managed resources"):
        manager.activate(FakeResource(), "run", is_local=False)


def test_activation_error(manager):
    resource = FakeResource(raise_on_activate=True)
    with pytest.raises(
        ExternalResourceError,
        match=f"Could not activate resource with id {resource.id}: Intentional fail",
    ):
        manager.activate(resource, "run")
    assert manager.get(resource.id).status.state == ResourceState.CREATED


def test_activation_ending_terminal(manager):
    resource = FakeResource(fail_activation=True)
    with pytest.raises(
        ExternalResourceError,
        match=f"Could not activate resource with id {resource.id}: cleaned",
    ):
        manager.activate(resource, "run")
    assert manager.get(resource.id).status.state == ResourceState.DEACTIVATED


def test_activation_timeout(manager):
    resource = FakeResource(slow_activate=True, activation_timeout=0.0)
    with pytest.raises(
        ExternalResourceError,
        match=f"Timed out activating resource with id {resource.id}. "
        "Last update message: Nothing has changed...",
    ):
        manager.activate(resource, "run")


def test_activation_timeout_with_failing_updates(manager):
    resource = FakeResource(raise_on_update=True, activation_timeout=0.02)
    with pytest.raises(ExternalResourceError, match="Timed out activating"):
        manager.activate(resource, "run")
    assert manager.get(resource.id).status.state == ResourceState.ACTIVATING


def test_deactivation_error(manager):
    resource = manager.activate(FakeResource(raise_on_deactivate=True), "run")
    with pytest.raises(
        ExternalResourceError,
        match=f"Could not deactivate resource with id {resource.id}: Intentional fail",
    ):
        manager.deactivate(resource.id)
    assert manager.get(resource.id).status.state == ResourceState.ACTIVE


def test_deactivation_timeout(manager):
    resource = manager.activate(
        FakeResource(slow_deactivate=True, deactivation_timeout=0), "r"
    )
    with pytest.raises(
        ExternalResourceError,
        match=f"Timed out deactivating resource with id {resource.id}. Last update",
    ):
        manager.deactivate(resource.id)
    assert manager.get(resource.id).status.state == ResourceState.DEACTIVATING


def test_deactivating_an_unknown_id(manager):
    with pytest.raises(
        ExternalResourceError, match="Could not deactivate resource with id x"
    ):
        manager.deactivate("x")


def test_manager_timeouts_use_its_clock():
    now = [0.0]
    sleeps: List[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    manager = ResourceManager(
        poll_interval_seconds=2.0, clock=lambda: now[0], sleep=sleep
    )
    resource = FakeResource(slow_activate=True, activation_timeout=5.0)
    with pytest.raises(ExternalResourceError, match="Timed out activating"):
        manager.activate(resource, "run")
    assert sleeps == [2.0, 2.0, 2.0]


def test_deactivate_all(manager):
    ok = manager.activate(FakeResource(), "run1", root_id="root")
    stuck = manager.activate(
        FakeResource(raise_on_deactivate=True), "run2", root_id="root"
    )
    elsewhere = manager.activate(FakeResource(), "run3", root_id="other")
    finished = manager.activate(FakeResource(), "run4", root_id="root")
    manager.deactivate(finished.id)
    assert manager.deactivate_all("root") == [stuck.id]
    assert manager.get(ok.id).status.state == ResourceState.DEACTIVATED
    assert manager.get(elsewhere.id).status.state == ResourceState.ACTIVE
    assert manager.deactivate_all() == [stuck.id]
    assert manager.get(elsewhere.id).status.state == ResourceState.DEACTIVATED
    assert manager.deactivate_all("nothing") == []


def _with_blocks(first: FakeResource, second: FakeResource) -> int:
    with first as r1:
        value = r1.use()
    with second as r2:
        value += r2.use()
    return value


def test_with_blocks_in_a_func(manager):
    FakeRunner.manager = manager
    FakeRunner.calls.clear()
    first, second = FakeResource(value=42), FakeResource(value=101)
    with set_context(_context(run_id="run", root_id="root")):
        assert _with_blocks(first, second) == 143
    assert _states(first.id) == LIFE_CYCLE
    assert _states(second.id) == LIFE_CYCLE
    # The first resource is deactivated before the second is activated.
    assert FakeRunner.calls == [
        f"activate {first.id}",
        f"entering {first.id}",
        f"exiting {first.id}",
        f"deactivate {first.id}",
        f"activate {second.id}",
        f"entering {second.id}",
        f"exiting {second.id}",
        f"deactivate {second.id}",
    ]
    assert "activating, is_local=True" in [r.status.message for r in _history]
    assert len(manager.resources_by_root_id("root")) == 2


def test_with_block_uses_a_runner_instance(manager):
    class InstanceRunner:
        def __init__(self) -> None:
            self.resources = manager

        def activate_resource_for_run(self, resource, run_id, root_id):
            return self.resources.activate(
                resource, run_id, is_local=True, root_id=root_id
            )

        def deactivate_resource(self, resource_id):
            return self.resources.deactivate(resource_id)

    runner = InstanceRunner()
    with set_context(_context(runner_class_path="", runner=runner)):
        with TimedMessage(
            message="hi", allocation_seconds=0, deallocation_seconds=0
        ) as m:
            assert m.read_message() == "hi"
            resource_id = m.id
    assert manager.get(resource_id).status.state == ResourceState.DEACTIVATED


def test_with_block_activation_failure_cancels_the_resource(manager):
    FakeRunner.manager = manager
    resource = FakeResource(raise_on_activate=True)
    with set_context(_context()):
        with pytest.raises(ExternalResourceError, match="Intentional fail"):
            with resource:
                raise AssertionError("not reached")
    assert manager.get(resource.id).status.state == ResourceState.DEACTIVATED


def test_with_block_deactivation_failure(manager):
    FakeRunner.manager = manager
    resource = FakeResource(raise_on_deactivate=True)
    reached = False
    with set_context(_context()):
        with pytest.raises(
            ExternalResourceError, match="Could not deactivate.*Intentional"
        ):
            with resource:
                reached = True
    assert reached
    assert manager.get(resource.id).status.state == ResourceState.ACTIVE


def test_with_block_failing_updates_time_out_deactivating(manager):
    # As in Sematic: the deactivation error replaces the activation error.
    FakeRunner.manager = manager
    resource = FakeResource(
        raise_on_update=True, activation_timeout=0, deactivation_timeout=0
    )
    with set_context(_context()):
        with pytest.raises(
            ExternalResourceError, match="Timed out deactivating"
        ) as info:
            with resource:
                raise AssertionError("not reached")
    assert "Timed out activating" in str(info.value.__context__)
    assert manager.get(resource.id).status.state == ResourceState.DEACTIVATING


def test_with_block_outside_a_func():
    with pytest.raises(
        NotInSematicFuncError,
        match=r"Called `with TimedMessage\(\.\.\.\)`, but the call was not made while "
        "executing a Sematic func.",
    ):
        with TimedMessage(message="x"):
            pass


# Kuberay ------------------------------------------------------------------------


def test_kuberay_wrapper_is_unavailable():
    with pytest.raises(UnsupportedUsageError, match="KubeRay.*not available"):
        StandardKuberayWrapper.create_cluster_manifest(
            image_uri="i", cluster_name="c", cluster_config=None, kuberay_version="v1"
        )
    with pytest.raises(UnsupportedUsageError, match="not available in this build"):
        StandardKuberayWrapper()


# Mocking func bodies --------------------------------------------------------------


class StandInFunction:
    """Implements the part of sematic.function.Function that mocking uses."""

    def __init__(self, func: Callable) -> None:
        self.func = func
        self._body: Optional[Callable] = None

    def _replace_body(self, body: Optional[Callable]) -> None:
        self._body = body

    def execute(self, **kwargs: Any) -> Any:
        return (self._body or self.func)(**kwargs)


def test_mock_sematic_funcs_contract(monkeypatch):
    # Sematic
    import sematic.testing.mock_funcs as mock_funcs

    monkeypatch.setattr(mock_funcs, "Function", StandInFunction)

    def add(a: int, b: int) -> int:
        return a + b

    def neg(a: int) -> int:
        return -a

    add_f, neg_f = StandInFunction(add), StandInFunction(neg)
    with mock_funcs.mock_sematic_funcs([add_f, neg_f]) as mocks:
        assert set(mocks) == {add_f, neg_f}
        assert mocks[add_f].original is add
        assert str(mocks[add_f].signature) == "(a: int, b: int) -> int"
        mocks[add_f].mock.return_value = 42
        mocks[neg_f].mock.side_effect = mocks[neg_f].original
        assert add_f.execute(a=1, b=2) == 42
        assert neg_f.execute(a=3) == -3
        mocks[add_f].mock.assert_called_once_with(a=1, b=2)
    assert add_f.execute(a=1, b=2) == 3

    with pytest.raises(KeyError):
        with mock_funcs.mock_sematic_funcs([add_f]) as mocks:
            mocks[add_f].mock.return_value = 0
            raise KeyError("boom")
    assert add_f.execute(a=1, b=2) == 3

    with pytest.raises(ValueError, match="must be given a list of functions decorated"):
        with mock_funcs.mock_sematic_funcs([add_f, add]):  # type: ignore[list-item]
            pass
    assert add_f._body is None


def test_mock_sematic_funcs_with_the_engine():
    import sematic
    from sematic.runners.silent_runner import SilentRunner
    from sematic.testing import mock_sematic_funcs

    @sematic.func
    def double(a: int) -> int:
        return 2 * a

    @sematic.func
    def pipeline(a: int) -> int:
        return double(double(a))

    with mock_sematic_funcs([double]) as mocks:
        mocks[double].mock.return_value = 5
        assert SilentRunner().run(pipeline(1)) == 5
        assert mocks[double].mock.call_count == 2
        mocks[double].mock.side_effect = mocks[double].original
        assert SilentRunner().run(pipeline(1)) == 4
        mocks[double].mock.side_effect = None
        mocks[double].mock.return_value = "not an int"
        with pytest.raises(PipelineRunError) as info:
            SilentRunner().run(pipeline(1))
        assert isinstance(info.value.__context__, TypeError)
    assert SilentRunner().run(pipeline(3)) == 12
