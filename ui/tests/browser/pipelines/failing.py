"""A pipeline whose second step raises, so its run page has a traceback to show.

    SEMATIC_HOME=... python -m pipelines.failing

Prints ``ROOT <root id>`` before running; the run fails with
``ValueError: cannot share 3 apples among 0 baskets`` raised two frames deep
inside ``share``, and the script exits 0 once the failure is recorded.
"""
import sematic


@sematic.func
def count_apples(n: int) -> int:
    return n


def _per_basket(apples: int, baskets: int) -> int:
    if baskets == 0:
        raise ValueError(f"cannot share {apples} apples among {baskets} baskets")
    return apples // baskets


@sematic.func
def share(apples: int, baskets: int) -> int:
    print(f"sharing {apples} apples among {baskets} baskets", flush=True)
    return _per_basket(apples, baskets)


@sematic.func
def failing_pipeline(apples: int = 3, baskets: int = 0) -> int:
    return share(count_apples(apples), baskets)


if __name__ == "__main__":
    future = failing_pipeline()
    print(f"ROOT {future.id}", flush=True)
    try:
        sematic.LocalRunner().run(future)
    except Exception as exc:  # the failure is the point; the store keeps it
        print(f"FAILED {type(exc).__name__}", flush=True)
    else:
        raise SystemExit("failing_pipeline did not fail")
