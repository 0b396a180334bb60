"""A first pipeline: fit a line to noisy points, three ways, and keep the best.

    python examples/first_pipeline.py            # LocalRunner: recorded in ~/.sematic
    python examples/first_pipeline.py --silent   # SilentRunner: in memory only

Plain Sematic API and no dependencies beyond the standard library, so the same
file runs under the real Sematic 0.41 too. It shows the pieces most pipelines
use: functions decorated with `@sematic.func` whose calls return futures,
dataclasses as inputs and outputs, a function that returns futures of its own
(nesting), a list of futures handed to one step, and a runner that resolves
the graph.
"""

import random
from dataclasses import dataclass
from typing import List

import sematic


@dataclass
class Dataset:
    """Points (x, y) to fit."""

    xs: List[float]
    ys: List[float]


@dataclass
class Line:
    """y = slope * x + intercept, as found by gradient descent."""

    slope: float
    intercept: float
    learning_rate: float


@dataclass
class Evaluation:
    line: Line
    test_mse: float


@dataclass
class Report:
    best: Evaluation
    candidates: List[Evaluation]


@sematic.func
def make_data(n_points: int, seed: int) -> Dataset:
    """Samples points around y = 3x + 2 with Gaussian noise."""
    rng = random.Random(seed)
    xs = [rng.uniform(-1.0, 1.0) for _ in range(n_points)]
    ys = [3.0 * x + 2.0 + rng.gauss(0.0, 0.1) for x in xs]
    return Dataset(xs=xs, ys=ys)


@sematic.func
def take(data: Dataset, start: int, stop: int) -> Dataset:
    """The points with index in [start, stop)."""
    return Dataset(xs=data.xs[start:stop], ys=data.ys[start:stop])


@sematic.func
def fit(train: Dataset, learning_rate: float, epochs: int) -> Line:
    """Fits a line by full-batch gradient descent on the mean squared error."""
    slope, intercept = 0.0, 0.0
    n = len(train.xs)
    print(f"fitting {n} points, learning rate {learning_rate}, {epochs} epochs")
    for _ in range(epochs):
        errors = [slope * x + intercept - y for x, y in zip(train.xs, train.ys)]
        slope -= learning_rate * 2.0 * sum(e * x for e, x in zip(errors, train.xs)) / n
        intercept -= learning_rate * 2.0 * sum(errors) / n
    return Line(slope=slope, intercept=intercept, learning_rate=learning_rate)


@sematic.func
def evaluate(line: Line, test: Dataset) -> Evaluation:
    """Mean squared error of `line` on the test points."""
    errors = [line.slope * x + line.intercept - y for x, y in zip(test.xs, test.ys)]
    return Evaluation(line=line, test_mse=sum(e * e for e in errors) / len(errors))


@sematic.func
def train_and_evaluate(train: Dataset, test: Dataset, learning_rate: float) -> Evaluation:
    """Nesting: this function returns a future; the runner resolves it."""
    line = fit(train, learning_rate, epochs=100)
    return evaluate(line, test)


@sematic.func
def pick_best(candidates: List[Evaluation]) -> Report:
    """Receives the list of futures as a list of concrete values."""
    best = min(candidates, key=lambda evaluation: evaluation.test_mse)
    return Report(best=best, candidates=candidates)


@sematic.func
def pipeline(n_points: int = 200, seed: int = 7) -> Report:
    """The root function: ordinary Python control flow builds the graph."""
    data = make_data(n_points, seed)
    split = n_points * 3 // 4
    train = take(data, 0, split)
    test = take(data, split, n_points)
    candidates = [train_and_evaluate(train, test, rate) for rate in (0.01, 0.1, 0.5)]
    return pick_best(candidates)


def main() -> None:
    import sys

    # Both runners execute every step in this process. LocalRunner also records
    # every run, input, output and printed line in the store (~/.sematic, or
    # $SEMATIC_HOME); SilentRunner keeps nothing.
    if "--silent" in sys.argv:
        runner = sematic.SilentRunner()
    else:
        runner = sematic.LocalRunner()
    future = pipeline()
    report = runner.run(future)
    for evaluation in report.candidates:
        print(f"learning rate {evaluation.line.learning_rate:<5} "
              f"test MSE {evaluation.test_mse:.5f}")
    best = report.best.line
    print(f"best: y = {best.slope:.3f} x + {best.intercept:.3f} "
          f"(learning rate {best.learning_rate}, test MSE {report.best.test_mse:.5f})")
    if isinstance(runner, sematic.LocalRunner):
        print(f"pipeline run {future.id} is recorded; look at it with:")
        print(f"  sematic runs")
        print(f"  sematic show {future.id}")
        print(f"  sematic runs --all --search fit        # then: sematic logs <run id>")


if __name__ == "__main__":
    main()
