"""Version numbers.

``CURRENT_VERSION`` is the Sematic API level this package implements: the
real Sematic client compares it with its own version, and users' code may
compare ``sematic.__version__``. ``SEMATIC_C_VERSION`` is the release of
this implementation, reported beside it by ``sematic version``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Tuple

    VersionTuple = Tuple[int, int, int]

# The Sematic API level implemented (the server reports it as `server`).
CURRENT_VERSION: VersionTuple = (0, 41, 0)

# The oldest Sematic client the server works with.
MIN_CLIENT_SERVER_SUPPORTS: VersionTuple = (0, 30, 0)

# Version of the settings file schema (~/.sematic/settings.yaml).
SETTINGS_SCHEMA_VERSION = 1

# The release of Sematic in C itself.
SEMATIC_C_VERSION = "0.1.0"


def version_as_string(version: VersionTuple) -> str:
    """Format a version tuple.

    Parameters
    ----------
    version:
        ``(major, minor, patch)``.

    Returns
    -------
    str
        ``"<major>.<minor>.<patch>"``.
    """
    return ".".join(str(part) for part in version)


def string_version_to_tuple(version_string: str) -> VersionTuple:
    """Parse a version string such as ``"0.41.0"`` or ``"0.41.0rc1"``.

    Parameters
    ----------
    version_string:
        ``"<major>.<minor>.<patch>"``; anything after the patch digits is ignored.

    Returns
    -------
    VersionTuple
        ``(major, minor, patch)``.

    Raises
    ------
    ValueError
        If the string has fewer than three dot-separated parts.
    """
    import re

    parts = version_string.split(".")
    if len(parts) < 3:
        raise ValueError(
            f"Version strings should have at least three digits. Got: {version_string}"
        )
    patch = re.search(r"\d+", parts[2])
    return int(parts[0]), int(parts[1]), int(patch.group()) if patch else 0


CURRENT_VERSION_STR = version_as_string(CURRENT_VERSION)
MIN_CLIENT_SERVER_SUPPORTS_STR = version_as_string(MIN_CLIENT_SERVER_SUPPORTS)

__version__ = CURRENT_VERSION_STR


def __getattr__(name: str) -> object:
    # VersionTuple (Tuple[int, int, int]) is built on first use: typing is not
    # imported by `import sematic`.
    if name == "VersionTuple":
        from typing import Tuple

        value = globals()[name] = Tuple[int, int, int]
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    print(CURRENT_VERSION_STR)
