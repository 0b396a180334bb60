"""``python -m sematic._rerun ROOT_ID [--from RUN_ID | --continue]``: what `sematic rerun` runs.

The C command (src/cli/rerun.c) starts this module with the interpreter,
working directory and sys.path of the pipeline run's driver. It rebuilds the
root future from the store (the root function, imported by path, called with
its stored inputs) and runs it with a LocalRunner that reuses what the old
pipeline run resolved: every resolved run with ``--continue`` (resume after a
crash), all but the chosen run and what depends on it with ``--from``.
"""
import argparse
import ast
import importlib
import json
import os
import sys
import types
from typing import Any, List, Optional

from sematic import _core, _settings


def _is_main_guard(node: ast.stmt) -> bool:
    """True for a top-level `if __name__ == "__main__":` (either way round)."""
    test = node.test if isinstance(node, ast.If) else None
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and len(test.comparators) == 1
    ):
        return False
    sides = (test.left, test.comparators[0])
    return any(isinstance(x, ast.Name) and x.id == "__name__" for x in sides) and any(
        isinstance(x, ast.Constant) and x.value == "__main__" for x in sides
    )


def _load_main_script(script: str) -> types.ModuleType:
    """The driver's script as module ``__main__``, as when it ran, minus its main guards.

    Its functions and classes keep the paths they were recorded with
    (``__main__.pipeline``, ``__main__.Dataset``), so stored artifacts of its
    types decode and its runs can be reused; the ``if __name__ == "__main__":``
    blocks are left out, as they would start the pipeline again.
    """
    with open(script, "rb") as f:
        tree = ast.parse(f.read(), filename=script)
    tree.body = [node for node in tree.body if not _is_main_guard(node)]
    module = types.ModuleType("__main__")
    module.__file__ = script
    sys.modules["__main__"] = module
    exec(compile(tree, script, "exec"), module.__dict__)
    return module


def _import_function(path: str, script: Optional[str]) -> Any:
    module_name, _, qualname = path.rpartition(".")
    if module_name == "__main__":
        if script is None or not os.path.exists(script):
            raise SystemExit(
                f"sematic: cannot rerun '{path}': it was defined in the script the driver "
                f"ran ({script or 'unknown'}), which cannot be found; run it from its directory"
            )
        obj: Any = _load_main_script(script)
    else:
        try:
            obj = importlib.import_module(module_name)
        except ImportError as e:
            raise SystemExit(
                f"sematic: cannot rerun: module '{module_name}' cannot be imported ({e}); "
                "run `sematic rerun` where the pipeline's code is importable"
            ) from e
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _script_of(pipeline: dict) -> Optional[str]:
    command: List[str] = (pipeline.get("run_command") or "").split()
    for arg in command[1:]:
        if arg.endswith(".py"):
            return arg if os.path.isabs(arg) else os.path.join(pipeline.get("cwd") or "", arg)
    return None


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="sematic rerun")
    parser.add_argument("root_id")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--from", dest="from_run")
    group.add_argument("--continue", dest="cont", action="store_true")
    args = parser.parse_args(argv)

    from sematic.graph import RerunMode
    from sematic.runners.local_runner import LocalRunner

    store = _core.Store(_settings.home())
    try:
        try:
            root = json.loads(store.get_run(args.root_id))
        except _core.SematicError as e:
            print(f"sematic: {e}", file=sys.stderr)
            return 1
        if root["id"] != root["root_id"]:
            print(
                f"sematic: '{args.root_id}' is not a pipeline run's root; rerun its root "
                f"'{root['root_id']}' with --from {args.root_id}",
                file=sys.stderr,
            )
            return 2
        pipeline = json.loads(store.pipeline(args.root_id))
        # The code first: the inputs may be of the script's own types.
        function = _import_function(root["function_path"], _script_of(pipeline))
        inputs = {}
        for e in json.loads(store.edges_of_run(args.root_id)):
            if e["destination_run_id"] == args.root_id and e["destination_name"]:
                inputs[e["destination_name"]] = store.artifact_value(e["artifact_id"])
        if pipeline["status"] in ("CREATED", "SCHEDULED", "RUNNING") and args.cont:
            # The driver is gone (sematic rerun refuses live ones): close the old run.
            try:
                store.set_pipeline_status(args.root_id, "FAILED")
            except _core.SematicError:
                pass
    finally:
        store.close()

    future = function(**inputs)
    if args.cont:
        runner = LocalRunner(rerun_from=args.root_id, rerun_mode=RerunMode.CONTINUE)
    else:
        runner = LocalRunner(
            rerun_from=args.from_run or args.root_id, rerun_mode=RerunMode.SPECIFIC_RUN
        )
    result = runner.run(future)
    print(f"sematic: pipeline run {runner.root_id} resolved to {result!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
