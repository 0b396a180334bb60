"""@sematic.func: decoration-time checks and call-time binding and casting (API.md 1.2, 2.3; §9 items 1-11, 16, 18, 32)."""
import typing
from typing import Any, List, Optional

import pytest

import sematic
from sematic.function import Function
from sematic.future import Future
from sematic.utils.exceptions import FunctionError


@sematic.func
def identity_float(a: float) -> float:
    return a


def test_func__bare_and_called_decorators_both_return_a_function():
    @sematic.func
    def bare(a: int) -> int:
        return a

    @sematic.func()
    def called(a: int) -> int:
        return a

    assert isinstance(bare, Function)
    assert isinstance(called, Function)


def test_func__any_annotation_is_refused_with_a_hint_to_use_object():
    with pytest.raises(TypeError) as e:

        @sematic.func
        def f(x: Any) -> int:
            return 1

    assert str(e.value) == (
        f"Invalid type annotation for argument 'x' of {__name__}.f: "
        "'Any' is not a Sematic-supported type. Use 'object' instead."
    )

    @sematic.func
    def g(x: object) -> object:
        return x

    assert sematic.SilentRunner().run(g(3)) == 3


def test_func__keeps_name_doc_and_module():
    @sematic.func
    def documented(a: int) -> int:
        """Some documentation."""
        return a

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Some documentation."
    assert documented.__module__ == __name__
    assert repr(documented) == f"{__name__}.documented"
    assert documented.get_func_fqpn() == f"{__name__}.documented"
    assert "Some documentation." in documented.get_source()


def test_func__refuses_non_functions():
    with pytest.raises(TypeError, match=r"^@sematic.func can only be used with functions. But 'abc' is a 'str'.$"):
        sematic.func("abc")


def test_func__refuses_methods():
    with pytest.raises(TypeError, match="can only be used with functions, not methods"):

        class A:
            @sematic.func
            def m(self, a: int) -> int:
                return a


def test_func__refuses_generators_and_async_functions():
    def gen(a: int) -> int:
        yield a

    async def coro(a: int) -> int:
        return a

    for f in (gen, coro):
        with pytest.raises(TypeError, match="can't be used with async functions, generators, or coroutines"):
            sematic.func(f)


def test_func__resource_requirements_need_standalone():
    with pytest.raises(ValueError) as e:
        sematic.func(resource_requirements=sematic.ResourceRequirements())
    assert str(e.value) == (
        "Only Standalone Functions can have resource requirements Try using "
        "@sematic.func(standalone=True, ...). See https://go.sematic.dev/t3mynx"
    )


def test_func__unannotated_function_has_no_inputs_and_outputs_none():
    @sematic.func
    def f():
        pass

    assert f.input_types == {}
    assert f.output_type is type(None)

    @sematic.func
    def g(a: None) -> None:
        pass

    assert g.input_types == {"a": type(None)}
    assert sematic.SilentRunner().run(g(None)) is None


def test_func__variadic_arguments_are_refused():
    def f(*abc: int) -> int:
        return 1

    with pytest.raises(ValueError, match=r"^Variadic arguments are not supported. 'f' has variadic argument 'abc'"):
        sematic.func(f)

    def g(**kw: int) -> int:
        return 1

    with pytest.raises(ValueError, match="Variadic arguments are not supported."):
        sematic.func(g)


def test_func__missing_annotations_are_listed_sorted():
    def f(b, a, c: int) -> int:
        return 1

    with pytest.raises(ValueError) as e:
        sematic.func(f)
    assert str(e.value) == (
        "Missing function type annotations. The following arguments are not annotated: 'a', 'b'"
    )


def test_func__call_with_uncastable_value_names_argument_function_and_reason():
    with pytest.raises(TypeError) as e:
        identity_float("abc")
    assert str(e.value) == (
        f"Invalid input type for argument 'a' when calling '{__name__}.identity_float'. "
        "Cannot cast abc to <class 'float'>: Cannot cast 'abc' to <class 'float'>"
    )


def test_func__call_error_names_the_offending_element_of_a_list():
    @sematic.func
    def total(xs: List[float]) -> float:
        return sum(xs)

    with pytest.raises(TypeError) as e:
        total([1.0, 2.0, 3.0, "x"])
    assert "Cannot cast 'x' to <class 'float'>" in str(e.value)
    assert str(e.value).endswith("(at inputs.xs[3])")


def test_func__call_returns_future_with_cast_kwargs():
    future = identity_float(1)
    assert isinstance(future, Future)
    assert future.function is identity_float
    assert future.kwargs == {"a": 1.0}
    assert type(future.kwargs["a"]) is float
    assert identity_float(1.23).kwargs == {"a": 1.23}


def test_func__binding_errors_are_those_of_inspect():
    with pytest.raises(TypeError, match="^too many positional arguments$"):
        identity_float(1, 2)
    with pytest.raises(TypeError, match="^missing a required argument: 'a'$"):
        identity_float()
    with pytest.raises(TypeError, match="^got an unexpected keyword argument 'c'$"):
        identity_float(a=1, c=2)
    with pytest.raises(TypeError, match="^multiple values for argument 'a'$"):
        identity_float(1, a=2)


def test_func__defaults_and_keyword_only_parameters_bind():
    @sematic.func
    def f(a: int, b: int = 10, *, c: int = 100) -> int:
        return a + b + c

    assert f(1).kwargs == {"a": 1, "b": 10, "c": 100}
    assert sematic.SilentRunner().run(f(1, 2, c=3)) == 6
    with pytest.raises(TypeError, match="too many positional arguments"):
        f(1, 2, 3)


def test_func__future_argument_with_incompatible_type_is_refused_at_call():
    @sematic.func
    def make_str() -> str:
        return "x"

    @sematic.func
    def takes_int(a: int) -> int:
        return a

    with pytest.raises(TypeError) as e:
        takes_int(make_str())
    assert str(e.value) == (
        f"Invalid input type for argument 'a' when calling '{__name__}.takes_int'. "
        "Cannot cast <class 'str'> to <class 'int'>: Cannot cast <class 'str'> to int"
    )


def test_func__standalone_defaults_false_and_settings_reach_future_props():
    @sematic.func
    def inline(a: int) -> int:
        return a

    requirements = sematic.ResourceRequirements(
        kubernetes=sematic.KubernetesResourceRequirements(requests={"cpu": "1"})
    )

    @sematic.func(standalone=True, resource_requirements=requirements)
    def standalone(a: int) -> int:
        return a

    assert inline.standalone is False
    assert inline(1).props.standalone is False
    future = standalone(1)
    assert future.props.standalone is True
    assert future.props.resource_requirements == requirements


def test_func__execute_wraps_user_errors_in_function_error():
    @sematic.func
    def fails(a: int) -> int:
        raise ValueError("boom")

    with pytest.raises(FunctionError, match="Error from running fails") as e:
        fails.execute(a=1)
    assert isinstance(e.value.__cause__, ValueError)


def test_func__pep_585_and_604_hints_work_and_bare_list_is_refused():
    @sematic.func
    def f(a: list[int], b: dict[str, str], c: int | float) -> list[int]:
        return a + [len(b)] + [int(c)]

    assert sematic.SilentRunner().run(f([1], {"x": "y"}, 2.5)) == [1, 1, 2]

    with pytest.raises(TypeError, match=r"list must be parametrized \(list\[...\] instead of list\)."):

        @sematic.func
        def g(a: list) -> int:
            return 1


def test_func__timeout_mins_must_be_a_whole_number_of_minutes():
    with pytest.raises(ValueError, match="^Timeouts must be >=1 minutes, got: 0$"):

        @sematic.func(timeout_mins=0)
        def f() -> int:
            return 1

    with pytest.raises(ValueError, match="^Timeouts must be an integer number of minutes, got: 1.5$"):

        @sematic.func(timeout_mins=1.5)
        def g() -> int:
            return 1


def test_func__string_annotations_are_evaluated():
    @sematic.func
    def f(a: "int") -> "Optional[int]":
        return a

    assert f.input_types == {"a": int}
    assert sematic.SilentRunner().run(f("4")) == 4


def test_func__inline_argument_is_deprecated_and_maps_to_standalone():
    with pytest.warns(DeprecationWarning, match="replace inline=False with standalone=True"):

        @sematic.func(inline=False)
        def f() -> int:
            return 1

    assert f.standalone is True
    assert typing.get_type_hints(f.func) == {"return": int}
