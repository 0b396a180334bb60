"""``python -m sematic._rerun ROOT_ID [--from RUN_ID | --continue]``: what `sematic rerun` runs.

The C command (src/cli/rerun.c) starts this module with the interpreter,
working directory and sys.path of the pipeline run's driver. It rebuilds the
root future from the store (the root function, imported by path, called with
its stored inputs) and runs it with a LocalRunner that reuses what the old
pipeline run resolved: every resolved run with ``--continue`` (resume after a
crash), all but the chosen run and what depends on it with ``--from``.
"""
import argparse
import importlib
import json
import os
import runpy
import sys
from typing import Any, List, Optional

from sematic import _core, _settings


def _import_function(path: str, script: Optional[str]) -> Any:
    module_name, _, qualname = path.rpartition(".")
    if module_name == "__main__":
        if script is None or not os.path.exists(script):
            raise SystemExit(
                f"sematic: cannot rerun '{path}': it was defined in the script the driver "
                f"ran ({script or 'unknown'}), which cannot be found; run it from its directory"
            )
        namespace = runpy.run_path(script, run_name="__sematic_main__")
        obj: Any = namespace[qualname.split(".")[0]]
        for part in qualname.split(".")[1:]:
            obj = getattr(obj, part)
        return obj
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

    function = _import_function(root["function_path"], _script_of(pipeline))
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
