"""Compute resources requested by standalone Sematic funcs.

Kubernetes requirements are accepted and recorded on runs as in Sematic 0.41;
Slurm requirements are our addition and select how a standalone func runs
as a Slurm job.
"""

# Standard Library
import re
from dataclasses import dataclass, field, replace
from enum import Enum, unique
from typing import Any, Dict, List, Optional, Union
from uuid import uuid4


KUBERNETES_SECRET_NAME = "sematic-func-secrets"

_MAX_VOLUME_NAME_LENGTH = 64


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class KubernetesSecretMount:
    """How to expose the Kubernetes secret ``sematic-func-secrets`` to a func.

    Attributes
    ----------
    environment_secrets: Dict[str, str]
        Maps keys of the secret to the names of environment variables that
        will hold their values.
    file_secrets: Dict[str, str]
        Maps keys of the secret to file paths, relative to
        ``file_secret_root_path``, that will hold their values.
    file_secret_root_path: str
        The directory holding all file secrets. Its former content is hidden.
    """

    environment_secrets: Dict[str, str] = field(default_factory=dict)
    file_secrets: Dict[str, str] = field(default_factory=dict)
    file_secret_root_path: str = "/secrets"

    def __post_init__(self) -> None:
        for name in ("environment_secrets", "file_secrets"):
            value = getattr(self, name)
            _require(
                isinstance(value, dict),
                f"{name} must be a dict mapping secret keys to names, got: {value!r}",
            )
        _require(
            isinstance(self.file_secret_root_path, str),
            "file_secret_root_path must be a string path, got: "
            f"{self.file_secret_root_path!r}",
        )


@unique
class KubernetesTolerationOperator(Enum):
    """How a toleration's key and value are compared with a node taint's.

    Options
    -------
    Equal:
        The values must be equal (and so must the effects).
    Exists:
        A taint with the key must exist; the value is not compared.
    """

    Equal = "Equal"
    Exists = "Exists"


@unique
class KubernetesTolerationEffect(Enum):
    """The effect of the node taint that a toleration tolerates.

    Options
    -------
    NoSchedule:
        The pod may be scheduled on a node with a NoSchedule taint.
    PreferNoSchedule:
        The pod may be scheduled on a node with a PreferNoSchedule taint.
    NoExecute:
        The pod is not evicted from a node with a NoExecute taint.
    All:
        Every effect is tolerated.
    """

    NoSchedule = "NoSchedule"
    PreferNoSchedule = "PreferNoSchedule"
    NoExecute = "NoExecute"
    All = "All"


@dataclass(frozen=True)
class KubernetesToleration:
    """A toleration of a node taint, letting the func's pod run on that node.

    Attributes
    ----------
    key: Optional[str]
        The key of the tolerated taint; None matches all keys and values.
    operator: KubernetesTolerationOperator
        How the key/value pair is compared with the taint's.
    effect: KubernetesTolerationEffect
        The tolerated effect; ``All`` tolerates every effect.
    value: Optional[str]
        Compared with the taint's value when the operator is ``Equal``.
    toleration_seconds: Optional[int]
        With the ``NoExecute`` effect only: how long the pod may keep running
        on a node with the taint.

    Raises
    ------
    ValueError
        If a field has the wrong type, or ``toleration_seconds`` is given with
        another effect than ``NoExecute``.
    """

    key: Optional[str] = None
    operator: KubernetesTolerationOperator = KubernetesTolerationOperator.Equal
    effect: KubernetesTolerationEffect = KubernetesTolerationEffect.All
    value: Optional[str] = None
    toleration_seconds: Optional[int] = None

    def __post_init__(self) -> None:
        _require(
            self.key is None or isinstance(self.key, str),
            f"key must be None or a string, got: {self.key}",
        )
        _require(
            isinstance(self.operator, KubernetesTolerationOperator),
            f"operator must be a {KubernetesTolerationOperator}, got {self.operator}. "
            "Use KubernetesTolerationOperator.Equal or KubernetesTolerationOperator.Exists.",
        )
        _require(
            isinstance(self.effect, KubernetesTolerationEffect),
            f"effect must be a {KubernetesTolerationEffect}, got {self.effect}. Use "
            "one of: "
            + ", ".join(
                f"KubernetesTolerationEffect.{e.name}"
                for e in KubernetesTolerationEffect
            )
            + ".",
        )
        _require(
            self.value is None or isinstance(self.value, str),
            f"value must be None or a string, got: {self.value}",
        )
        _require(
            self.toleration_seconds is None or _is_int(self.toleration_seconds),
            f"toleration_seconds must be None or an int, got: {self.toleration_seconds}",
        )
        _require(
            self.toleration_seconds is None
            or self.effect == KubernetesTolerationEffect.NoExecute,
            "toleration_seconds should only be specified when the effect is NoExecute.",
        )

    def to_api_keyword_args(self) -> Dict[str, Optional[Union[str, int]]]:
        """The keyword arguments of the Kubernetes client's ``V1Toleration``.

        Returns
        -------
        Dict[str, Optional[Union[str, int]]]
            ``effect`` is None for ``All`` (Kubernetes' way to say "every effect").
        """
        return dict(
            effect=(
                None
                if self.effect == KubernetesTolerationEffect.All
                else self.effect.value
            ),
            key=self.key,
            operator=self.operator.value,
            toleration_seconds=self.toleration_seconds,
            value=self.value,
        )


@dataclass(frozen=True)
class KubernetesCapabilities:
    """Linux capabilities added to or dropped from the container.

    Attributes
    ----------
    add: List[str]
        Added capabilities.
    drop: List[str]
        Dropped capabilities.
    """

    add: List[str] = field(default_factory=list)
    drop: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class KubernetesSecurityContext:
    """The security context of the func's container.

    Only honoured when the server enables ``ALLOW_CUSTOM_SECURITY_CONTEXTS``.

    Attributes
    ----------
    allow_privilege_escalation: bool
        Whether a process may gain more privileges than its parent.
    privileged: bool
        Whether the container runs privileged (root-equivalent on the host).
    capabilities: KubernetesCapabilities
        Capabilities to add or drop.
    """

    allow_privilege_escalation: bool
    privileged: bool
    capabilities: KubernetesCapabilities


@dataclass(frozen=True)
class KubernetesHostPathMount:
    """A ``hostPath`` volume giving the pod access to the node's file system.

    Only honoured when the server enables ``ALLOW_HOST_PATH_MOUNTING``.

    Attributes
    ----------
    node_path: str
        The path on the node (``path``).
    pod_mount_path: str
        Where the volume is mounted in the pod (``mountPath``).
    name: str
        The volume's name, an RFC 1123 label of at most 64 characters. When
        empty, it is derived from ``pod_mount_path``: ``/data/my_dir`` gives
        ``volume-data-my-dir``; names that would be too long are truncated and
        given a random suffix.
    type: str
        The ``hostPath`` type; empty by default.
    """

    node_path: str
    pod_mount_path: str
    name: str = field(default="")
    type: str = field(default="")

    def __post_init__(self) -> None:
        for attribute in ("node_path", "pod_mount_path"):
            value = getattr(self, attribute)
            _require(
                isinstance(value, str) and len(value) > 0,
                f"{attribute} must be a non-empty path string, got: {value!r}",
            )
        if not self.name:
            object.__setattr__(self, "name", _volume_name(self.pod_mount_path))


def _volume_name(pod_mount_path: str) -> str:
    # RFC 1123 labels: lower-case alphanumerics and '-', alphanumeric at both
    # ends. The mount path is absolute, so the name reads "volume-...".
    label = re.sub(r"[^a-z0-9-]", "-", pod_mount_path.lower()).rstrip("-")
    name = f"volume{label}" if label.startswith("-") else f"volume-{label}".rstrip("-")
    if len(name) > _MAX_VOLUME_NAME_LENGTH:
        # A random suffix avoids collisions between long paths sharing a prefix.
        name = name[: _MAX_VOLUME_NAME_LENGTH - 6] + uuid4().hex[:6]
    return name


@dataclass(frozen=True)
class KubernetesResourceRequirements:
    """Kubernetes resources and settings for a standalone func's pod.

    Attributes
    ----------
    node_selector: Dict[str, str]
        Node labels the pod must be scheduled on (``nodeSelector``).
    requests: Dict[str, str]
        Resource quantities, e.g. ``{"cpu": "1", "memory": "4Gi"}``, used both
        as requests and as limits.
    secret_mounts: KubernetesSecretMount
        Secrets exposed as environment variables or files.
    tolerations: List[KubernetesToleration]
        Tolerations of node taints.
    mount_expanded_shared_memory: bool
        Mount a memory-backed ``/dev/shm`` of up to half the memory instead of
        Docker's 64MB one.
    security_context: Optional[KubernetesSecurityContext]
        The container's security context, if allowed by the server.
    host_path_mounts: List[KubernetesHostPathMount]
        ``hostPath`` volumes, if allowed by the server.
    annotations: Dict[str, str]
        Pod annotations; keys not allowed by the server are ignored.
    labels: Dict[str, str]
        Pod labels; keys not allowed by the server are ignored.
    """

    node_selector: Dict[str, str] = field(default_factory=dict)
    requests: Dict[str, str] = field(default_factory=dict)
    secret_mounts: KubernetesSecretMount = field(default_factory=KubernetesSecretMount)
    tolerations: List[KubernetesToleration] = field(default_factory=list)
    mount_expanded_shared_memory: bool = field(default=False)
    security_context: Optional[KubernetesSecurityContext] = field(default=None)
    host_path_mounts: List[KubernetesHostPathMount] = field(default_factory=list)
    annotations: Dict[str, str] = field(default_factory=dict)
    labels: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("node_selector", "requests", "annotations", "labels"):
            value = getattr(self, name)
            _require(
                isinstance(value, dict),
                f"{name} must be a dict, got: {value!r}",
            )
        _require(
            isinstance(self.secret_mounts, KubernetesSecretMount),
            f"secret_mounts must be a KubernetesSecretMount, got: {self.secret_mounts!r}",
        )
        _require(
            self.security_context is None
            or isinstance(self.security_context, KubernetesSecurityContext),
            "security_context must be None or a KubernetesSecurityContext, got: "
            f"{self.security_context!r}",
        )
        for name, item_type in (
            ("tolerations", KubernetesToleration),
            ("host_path_mounts", KubernetesHostPathMount),
        ):
            value = getattr(self, name)
            _require(
                isinstance(value, (list, tuple))
                and all(isinstance(item, item_type) for item in value),
                f"{name} must be a list of {item_type.__name__}, got: {value!r}",
            )

    def clone(self) -> "KubernetesResourceRequirements":
        """Copy these requirements; the copy shares no mutable container.

        Returns
        -------
        KubernetesResourceRequirements
            The copy.
        """
        return replace(
            self,
            node_selector=dict(self.node_selector),
            requests=dict(self.requests),
            tolerations=list(self.tolerations),
            host_path_mounts=list(self.host_path_mounts),
            annotations=dict(self.annotations),
            labels=dict(self.labels),
        )


@dataclass(frozen=True)
class SlurmResourceRequirements:
    """Slurm resources for a standalone func run as a Slurm job.

    Attributes
    ----------
    cpus: int
        CPUs per task (``--cpus-per-task``); at least 1.
    memory_mb: Optional[int]
        Memory in MiB (``--mem``); None for the partition's default.
    gpus: int
        GPUs (``--gpus``); 0 for none.
    time_limit_mins: Optional[int]
        Wall-clock limit in minutes (``--time``); None for the partition's.
    partition: Optional[str]
        The partition (``--partition``); None for the cluster's default.
    extra_args: List[str]
        More ``sbatch`` arguments, passed as they are.

    Raises
    ------
    ValueError
        If a field is out of range or of the wrong type.
    """

    cpus: int = 1
    memory_mb: Optional[int] = None
    gpus: int = 0
    time_limit_mins: Optional[int] = None
    partition: Optional[str] = None
    extra_args: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _require(
            _is_int(self.cpus) and self.cpus >= 1,
            f"cpus must be an int >= 1, got: {self.cpus!r}. Use e.g. cpus=4.",
        )
        _require(
            self.memory_mb is None or (_is_int(self.memory_mb) and self.memory_mb >= 1),
            f"memory_mb must be None or an int >= 1, got: {self.memory_mb!r}. "
            "Give the memory in MiB, e.g. memory_mb=4096 for 4 GiB.",
        )
        _require(
            _is_int(self.gpus) and self.gpus >= 0,
            f"gpus must be an int >= 0, got: {self.gpus!r}. Use gpus=0 for no GPU.",
        )
        _require(
            self.time_limit_mins is None
            or (_is_int(self.time_limit_mins) and self.time_limit_mins >= 1),
            f"time_limit_mins must be None or an int >= 1, got: "
            f"{self.time_limit_mins!r}. Use None for the partition's limit.",
        )
        _require(
            self.partition is None
            or (isinstance(self.partition, str) and len(self.partition) > 0),
            f"partition must be None or a non-empty string, got: {self.partition!r}. "
            "Use None for the cluster's default partition.",
        )
        _require(
            isinstance(self.extra_args, (list, tuple))
            and all(isinstance(arg, str) for arg in self.extra_args),
            f"extra_args must be a list of strings, got: {self.extra_args!r}. "
            'Use e.g. extra_args=["--exclusive"].',
        )

    def clone(self) -> "SlurmResourceRequirements":
        """Copy these requirements; the copy shares no mutable container.

        Returns
        -------
        SlurmResourceRequirements
            The copy.
        """
        return replace(self, extra_args=list(self.extra_args))


@dataclass
class ResourceRequirements:
    """The resources a standalone func needs.

    Attributes
    ----------
    kubernetes: KubernetesResourceRequirements
        Kubernetes requirements (recorded on runs; used by Kubernetes executors).
    slurm: Optional[SlurmResourceRequirements]
        Slurm requirements, used when the func runs as a Slurm job.
    """

    kubernetes: KubernetesResourceRequirements = field(
        default_factory=KubernetesResourceRequirements
    )
    slurm: Optional[SlurmResourceRequirements] = None

    def __post_init__(self) -> None:
        _require(
            isinstance(self.kubernetes, KubernetesResourceRequirements),
            "kubernetes must be a KubernetesResourceRequirements, got: "
            f"{self.kubernetes!r}. Use "
            "ResourceRequirements(kubernetes=KubernetesResourceRequirements(...)).",
        )
        _require(
            self.slurm is None or isinstance(self.slurm, SlurmResourceRequirements),
            f"slurm must be None or a SlurmResourceRequirements, got: {self.slurm!r}. "
            "Use ResourceRequirements(slurm=SlurmResourceRequirements(...)).",
        )

    def clone(self) -> "ResourceRequirements":
        """Copy these requirements; the copy shares no mutable container.

        Returns
        -------
        ResourceRequirements
            The copy.
        """
        return replace(
            self,
            kubernetes=self.kubernetes.clone(),
            slurm=None if self.slurm is None else self.slurm.clone(),
        )


DEFAULT_RUNNER_RESOURCES = ResourceRequirements(
    kubernetes=KubernetesResourceRequirements(
        requests={"cpu": "500m", "memory": "2Gi"},
    )
)
