"""Settings of this machine: ``$SEMATIC_HOME/settings.yaml``, overridden by the environment.

The file is one flat mapping of ``KEY: value`` lines, which ``sematic settings
set|delete`` (C, src/cli/settings.c) writes; an environment variable of the
same name wins over the file.
"""
import os
from typing import Dict, Optional


def home() -> str:
    """The store's directory: ``$SEMATIC_HOME``, else ``~/.sematic``."""
    value = os.environ.get("SEMATIC_HOME")
    if value:
        return os.path.abspath(os.path.expanduser(value))
    return os.path.join(os.path.expanduser("~"), ".sematic")


def read_file(directory: Optional[str] = None) -> Dict[str, str]:
    """The settings stored in settings.yaml (no environment overrides)."""
    path = os.path.join(directory or home(), "settings.yaml")
    settings: Dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                settings[key.strip()] = value
    except (FileNotFoundError, NotADirectoryError):
        pass  # no settings yet; opening the store reports a home that cannot be used
    return settings


def get(key: str, default: Optional[str] = None) -> Optional[str]:
    """A setting: the environment variable of that name, else settings.yaml, else default."""
    if key in os.environ:
        return os.environ[key]
    return read_file().get(key, default)
