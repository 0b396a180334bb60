"""StandardKuberayWrapper: importable, but Ray on Kubernetes is not in this build.

Sematic 0.41 builds KubeRay cluster manifests here for ``RayCluster``
resources under the CloudRunner. This build runs cluster work as Slurm jobs
and has no KubeRay support; local runners start Ray locally and never use
this class. It stays importable so that settings and code naming it load.
"""

# Standard Library
from typing import Any, NoReturn, Tuple

# Sematic
from sematic.utils.exceptions import UnsupportedUsageError


_UNAVAILABLE = (
    "Ray-on-Kubernetes (KubeRay) is not available in this build of Sematic: "
    "StandardKuberayWrapper cannot create Ray clusters. Use a local runner "
    "(SilentRunner or LocalRunner), where RayCluster starts Ray locally, or run "
    "the work as a standalone func with "
    "ResourceRequirements(slurm=SlurmResourceRequirements(...))."
)


def _unavailable() -> NoReturn:
    raise UnsupportedUsageError(_UNAVAILABLE)


class StandardKuberayWrapper:
    """Placeholder for Sematic's KubeRay wrapper; every use raises.

    Raises
    ------
    UnsupportedUsageError
        When instantiated or when any of its methods is called.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _unavailable()

    @staticmethod
    def get_author() -> str:
        """The plug-in's author."""
        return "github.com/sematic-ai"

    @staticmethod
    def get_version() -> Tuple[int, int, int]:
        """The plug-in's version."""
        return (0, 0, 0)

    @classmethod
    def get_settings_vars(cls) -> NoReturn:
        """Unavailable in this build."""
        _unavailable()

    @classmethod
    def create_cluster_manifest(cls, *args: Any, **kwargs: Any) -> NoReturn:
        """Unavailable in this build."""
        _unavailable()

    @classmethod
    def head_uri(cls, *args: Any, **kwargs: Any) -> NoReturn:
        """Unavailable in this build."""
        _unavailable()
