"""The result of examples/first_pipeline.py's pipeline, as JSON, for the tests to compare with
what the dashboard shows. SilentRunner computes it again: the example has a fixed seed, so it
is the value LocalRunner recorded.

    python -m pipelines.example_values
"""
import contextlib
import dataclasses
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "examples"))

import first_pipeline  # noqa: E402
import sematic  # noqa: E402

if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):  # the steps print; stdout is the JSON alone
        report = sematic.SilentRunner().run(first_pipeline.pipeline())
    print(json.dumps(dataclasses.asdict(report)))
