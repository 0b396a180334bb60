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

if sys.version_info < (3, 8):  # pragma: no cover - packaging requires 3.9
    raise RuntimeError(
        "Sematic requires python to be at 3.8.0 or above, but you are running "
        f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}. "
        "Please upgrade to continue."
    )

from sematic import _core, _hooks
from sematic.abstract_future import STATES_BY_INDEX
from sematic.container_images import has_container_image
from sematic.function import func
from sematic.future import Future
from sematic.future_context import SematicContext, context
from sematic.graph import RerunMode
from sematic.plugins.external_resource.timed_message import TimedMessage
from sematic.plugins.kuberay_wrapper.standard import StandardKuberayWrapper
from sematic.resolver import Resolver
from sematic.resolvers.cloud_resolver import CloudResolver
from sematic.resolvers.local_resolver import LocalResolver
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
from sematic.resolvers.silent_resolver import SilentResolver
from sematic.retry_settings import RetrySettings
from sematic.runner import Runner
from sematic.runners.cloud_runner import CloudRunner
from sematic.runners.local_runner import LocalRunner
from sematic.runners.silent_runner import SilentRunner
from sematic.utils.exceptions import KubernetesError, PipelineRunError
from sematic.versions import __version__

_core.register(Future, _hooks, STATES_BY_INDEX)

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
