"""Pipelines written for the real Sematic run here unchanged.

The examples that ship inside the sematic 0.41.0 wheel on PyPI are taken as
they are (the wheel is fetched once with `pip download` and cached in
tests/python/_wheel/), loaded from a temporary directory, and run with our
SilentRunner. Our own first example (examples/first_pipeline.py) is checked
the same way and also as the command the README shows.
"""

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

import sematic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WHEEL_DIR = HERE / "_wheel"
SEMATIC_PEER = "sematic==0.41.0"


def sematic_wheel() -> Path:
    """The sematic 0.41.0 wheel, downloaded into tests/python/_wheel/ once."""
    wheels = sorted(WHEEL_DIR.glob("sematic-0.41.0-*.whl"))
    if wheels:
        return wheels[0]
    # pip runs in a plain interpreter: no sanitizer runtime, no staging path.
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYTHONPATH")}
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--only-binary=:all:", SEMATIC_PEER, "-d", str(WHEEL_DIR)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    wheels = sorted(WHEEL_DIR.glob("sematic-0.41.0-*.whl"))
    if proc.returncode != 0 or not wheels:
        pytest.fail(f"cannot download the {SEMATIC_PEER} wheel from PyPI: {proc.stderr.strip()}; "
                    f"check the network, or put the wheel in '{WHEEL_DIR}'", pytrace=False)
    return wheels[0]


def load_module(path: Path, name: str, monkeypatch: pytest.MonkeyPatch):
    """Imports the file at `path` as module `name`, registered in sys.modules
    for the duration of the test (dataclasses and function paths need it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def wheel_example(tmp_path, monkeypatch):
    """Returns a loader: example name -> the module of
    sematic/examples/<name>/pipeline.py extracted from the 0.41.0 wheel."""
    wheel = sematic_wheel()

    def load(name: str):
        with zipfile.ZipFile(wheel) as zf:
            source = zf.read(f"sematic/examples/{name}/pipeline.py")
        path = tmp_path / f"sematic_example_{name}.py"
        path.write_bytes(source)
        return load_module(path, f"sematic_example_{name}", monkeypatch)

    return load


def run(future):
    return sematic.SilentRunner().run(future)


# sematic/examples/add: pipeline(a, b, c) adds each pair, then adds the three
# sums with the nested add3, so the result is 2 * (a + b + c).


def test_add_example_pipeline_adds_each_pair_then_the_three_sums(wheel_example):
    add = wheel_example("add")

    result = run(add.pipeline(1, 2, 3))

    assert result == 12.0
    assert isinstance(result, float)


def test_add_example_pipeline_casts_ints_to_float_and_keeps_fractions(wheel_example):
    add = wheel_example("add")

    assert run(add.pipeline(1.5, -2.0, 4.25)) == 7.5
    assert run(add.add3(1, 2, 3)) == 6.0


# sematic/examples/dynamic_graph: pipeline(ntries) draws ntries numbers with
# random.uniform(0, 1), maps each through process() (cube above 0.5, square
# otherwise, sleeping data * 5 seconds), finds the draw whose processed value
# is largest, and branches on it: "RARE EVENT: x" above 0.9, else "MEH: x".
# The test feeds chosen draws and records the sleeps instead of sleeping.


class ScriptedRandom:
    """Stands in for the example's `random` module: uniform() returns the
    scripted draws in order."""

    def __init__(self, draws):
        self.remaining = list(draws)
        self.drawn = []

    def uniform(self, a, b):
        assert (a, b) == (0, 1)
        value = self.remaining.pop(0)
        self.drawn.append(value)
        return value


def run_dynamic_graph(example, monkeypatch, draws):
    random = ScriptedRandom(draws)
    slept = []
    monkeypatch.setattr(example, "random", random)
    monkeypatch.setattr(example, "time", SimpleNamespace(sleep=slept.append))

    result = run(example.pipeline(len(draws)))

    assert sorted(random.drawn) == sorted(draws), "each random_uniform step runs once"
    assert sorted(slept) == sorted(d * 5 for d in draws), "each process step runs once"
    return result


def test_dynamic_graph_example_reports_a_rare_event_above_0_9(wheel_example, monkeypatch):
    example = wheel_example("dynamic_graph")

    result = run_dynamic_graph(example, monkeypatch, [0.3, 0.95, 0.55])

    assert result == "RARE EVENT: 0.95"


def test_dynamic_graph_example_picks_the_best_processed_value_not_the_largest_draw(
    wheel_example, monkeypatch
):
    example = wheel_example("dynamic_graph")

    # square(0.5) = 0.25 beats cube(0.51) = 0.13: the winner is 0.5, not 0.51.
    result = run_dynamic_graph(example, monkeypatch, [0.2, 0.51, 0.5])

    assert result == "MEH: 0.5"


def test_dynamic_graph_example_with_one_try_returns_its_only_draw(wheel_example, monkeypatch):
    example = wheel_example("dynamic_graph")

    assert run_dynamic_graph(example, monkeypatch, [0.7]) == "MEH: 0.7"


# examples/first_pipeline.py, ours: the README's first pipeline.

FIRST_PIPELINE = ROOT / "examples" / "first_pipeline.py"


def test_first_pipeline_example_keeps_the_best_of_three_fits(monkeypatch):
    example = load_module(FIRST_PIPELINE, "first_pipeline", monkeypatch)

    report = run(example.pipeline())

    assert isinstance(report, example.Report)
    rates = [evaluation.line.learning_rate for evaluation in report.candidates]
    assert rates == [0.01, 0.1, 0.5]
    assert report.best == min(report.candidates, key=lambda evaluation: evaluation.test_mse)
    assert report.best.line.learning_rate == 0.1
    assert round(report.best.line.slope, 3) == 3.008
    assert round(report.best.line.intercept, 3) == 2.009


def test_first_pipeline_example_runs_as_a_script_and_prints_the_best_line(tmp_path):
    # The command the README and `make demo` show, from another directory so
    # that `import sematic` finds the installed package.
    # It runs with LocalRunner: the store goes to a home of its own.
    env = dict(os.environ, SEMATIC_HOME=str(tmp_path / "home"), SEMATIC_PROGRESS="0")
    proc = subprocess.run([sys.executable, str(FIRST_PIPELINE)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "best: y = 3.008 x + 2.009 (learning rate 0.1, test MSE 0.00945)" in lines
    assert sum(line.startswith("fitting 150 points") for line in lines) == 3
    (recorded,) = [line for line in lines if line.startswith("pipeline run ")]
    root_id = recorded.split()[2]
    assert f"  sematic show {root_id}" in lines
    assert (tmp_path / "home" / "sematic.db").exists()


def test_first_pipeline_example_runs_silently_with_silent_flag(tmp_path):
    env = dict(os.environ, SEMATIC_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, str(FIRST_PIPELINE), "--silent"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == (
        "best: y = 3.008 x + 2.009 (learning rate 0.1, test MSE 0.00945)"
    )
    assert not (tmp_path / "home").exists()
