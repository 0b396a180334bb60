"""The `sematic` command installed with the package: version, help and usage errors."""
import os
import subprocess
import sys
from pathlib import Path

import sematic

# $SEMATIC_CLI tests another build (e.g. an ASan one); else the one `pip install .` put in the venv.
SEMATIC = Path(os.environ.get("SEMATIC_CLI") or Path(sys.executable).parent / "sematic")


def sematic_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SEMATIC), *args], capture_output=True, text=True, timeout=30)


def test_cli__version_prints_release_and_api_level():
    result = sematic_cli("version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"sematic {sematic._core.VERSION} (Sematic API {sematic.__version__})\n"


def test_cli__help_lists_the_commands():
    for args in (["--help"], ["-h"], []):
        result = sematic_cli(*args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: sematic <command> [<args>]")
        assert "version" in result.stdout


def test_cli__unknown_command_is_a_usage_error_naming_the_fix():
    result = sematic_cli("frobnicate")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "sematic: unknown command 'frobnicate'; run 'sematic --help' for the list\n"
