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
                settings[key.strip()] = _parse_value(value.strip())
    except (FileNotFoundError, NotADirectoryError):
        pass  # no settings yet; opening the store reports a home that cannot be used
    return settings


def _parse_value(text: str) -> str:
    """A value as src/cli/settings.c writes it: plain (a " #" starts a comment),
    double-quoted with \\" and \\\\ escapes, or single-quoted with '' for a quote."""
    if text[:1] in ("'", '"'):
        quote, out, i = text[0], [], 1
        while i < len(text):
            c = text[i]
            if quote == '"' and c == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
                out.append(text[i + 1])
                i += 2
            elif quote == "'" and c == "'" and text[i + 1 : i + 2] == "'":
                out.append("'")
                i += 2
            elif c == quote:
                return "".join(out)
            else:
                out.append(c)
                i += 1
        return text  # unclosed: taken as written
    comment = text.find(" #")
    return (text[:comment] if comment >= 0 else text).rstrip()


def get(key: str, default: Optional[str] = None) -> Optional[str]:
    """A setting: the environment variable of that name, else settings.yaml, else default."""
    if key in os.environ:
        return os.environ[key]
    return read_file().get(key, default)
