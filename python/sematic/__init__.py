"""Sematic in C: the Sematic 0.41 Python API over a C engine.

Decorate functions with ``@sematic.func``, call them to build a graph of
futures, and resolve it with a runner::

    import sematic

    @sematic.func
    def add(a: float, b: float) -> float:
        return a + b

    sematic.SilentRunner().run(add(1, 2))  # 3.0
"""
import sys

if sys.version_info < (3, 8):  # pragma: no cover - packaging requires 3.10
    raise RuntimeError(
        "Sematic requires python to be at 3.8.0 or above, but you are running "
        f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}. "
        "Please upgrade to continue."
    )

# Only what building and running a first pipeline needs is imported here; the
# other public names are imported on first access (PEP 562 ``__getattr__``),
# so that ``import sematic`` stays cheap (no typing, dataclasses, logging or
# inspect). ``sematic.X`` and ``from sematic import X`` work for every name.
from sematic import _core
from sematic.abstract_future import STATES_BY_INDEX
from sematic.function import func
from sematic.future import Future
from sematic.runners.silent_runner import SilentRunner
from sematic.utils.exceptions import KubernetesError, PipelineRunError
from sematic.versions import __version__


class _Hooks:
    """``sematic._hooks`` as the engine sees it: imported on the first call.

    The engine calls those helpers on rare paths only (failures, timeouts,
    lists of futures), so a pipeline that needs none never imports them.
    """

    __slots__ = ()

    def __getattr__(self, name: str):
        from sematic import _hooks

        return getattr(_hooks, name)


_core.register(Future, _Hooks(), STATES_BY_INDEX)

# Public name -> the module that defines it, imported on first access.
_LAZY = {
    "SematicContext": "sematic.future_context",
    "context": "sematic.future_context",
    "Runner": "sematic.runner",
    "LocalRunner": "sematic.runners.local_runner",
    "RerunMode": "sematic.graph",
    "CloudRunner": "sematic.runners.cloud_runner",
    "Resolver": "sematic.resolver",
    "SilentResolver": "sematic.resolvers.silent_resolver",
    "LocalResolver": "sematic.resolvers.local_resolver",
    "CloudResolver": "sematic.resolvers.cloud_resolver",
    "RetrySettings": "sematic.retry_settings",
    "ResourceRequirements": "sematic.resolvers.resource_requirements",
    "KubernetesResourceRequirements": "sematic.resolvers.resource_requirements",
    "KubernetesSecretMount": "sematic.resolvers.resource_requirements",
    "KubernetesToleration": "sematic.resolvers.resource_requirements",
    "KubernetesTolerationEffect": "sematic.resolvers.resource_requirements",
    "KubernetesTolerationOperator": "sematic.resolvers.resource_requirements",
    "KubernetesSecurityContext": "sematic.resolvers.resource_requirements",
    "KubernetesCapabilities": "sematic.resolvers.resource_requirements",
    "KubernetesHostPathMount": "sematic.resolvers.resource_requirements",
    "SlurmResourceRequirements": "sematic.resolvers.resource_requirements",
    "TimedMessage": "sematic.plugins.external_resource.timed_message",
    "StandardKuberayWrapper": "sematic.plugins.kuberay_wrapper.standard",
    "has_container_image": "sematic.container_images",
}


def __getattr__(name: str):
    """Import a public name of ``_LAZY`` on first access (PEP 562)."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    __import__(module_name)
    value = getattr(sys.modules[module_name], name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "func",
    "SematicContext",
    "context",
    "Runner",
    "SilentRunner",
    "LocalRunner",
    "RerunMode",
    "CloudRunner",
    "Resolver",
    "SilentResolver",
    "LocalResolver",
    "CloudResolver",
    "RetrySettings",
    "ResourceRequirements",
    "KubernetesResourceRequirements",
    "KubernetesSecretMount",
    "KubernetesToleration",
    "KubernetesTolerationEffect",
    "KubernetesTolerationOperator",
    "KubernetesSecurityContext",
    "KubernetesCapabilities",
    "KubernetesHostPathMount",
    "SlurmResourceRequirements",
    "TimedMessage",
    "StandardKuberayWrapper",
    "has_container_image",
    "KubernetesError",
    "PipelineRunError",
    "__version__",
]
