"""Code fingerprints (what a function does, not where it sits) and loader identities."""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from memcache_kit._keys import encode, fingerprint, loader_identity

BASE = '''
def load(path, scale=2):
    """Load and scale."""
    # read the rows
    rows = [int(x) * scale for x in path.split(",") if x]
    keep = {"a", "b", "c"}
    total = sum(filter(lambda r: r > 0, rows))
    def inner(v):
        return v + 1
    return inner(total), keep
'''


def _func(source: str, name: str = "load") -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(source), "<notebook cell>", "exec"), namespace)
    return namespace[name]


def _fp(source: str) -> str:
    return fingerprint(_func(source))


def test_same_source_same_fingerprint_and_it_runs() -> None:
    f = _func(BASE)
    assert f("1,2,3") == (13, {"a", "b", "c"})
    assert _fp(BASE) == _fp(BASE)
    assert len(_fp(BASE)) == 32


@pytest.mark.parametrize(
    "variant",
    [
        "\n\n\n\n" + BASE,  # moved down
        "# a comment above\n# and another\n" + BASE,
        BASE.replace("# read the rows", "# read every row, skipping blanks"),
        BASE.replace('"""Load and scale."""', '"""Completely different documentation."""'),
        BASE.replace('    """Load and scale."""\n', ""),  # docstring removed
        BASE.replace("rows = [", "rows = [  ").replace("if x]", "if x ]"),  # whitespace only
    ],
)
def test_moves_comments_and_docstrings_keep_the_fingerprint(variant: str) -> None:
    assert _fp(variant) == _fp(BASE)


@pytest.mark.parametrize(
    "variant",
    [
        BASE.replace("* scale", "+ scale"),  # operator
        BASE.replace("scale=2", "scale=3"),  # default
        BASE.replace('","', '";"'),  # constant
        BASE.replace("sum(", "max("),  # global name
        BASE.replace("r > 0", "r > 1"),  # nested lambda
        BASE.replace("r > 0", "r >= 0"),
        BASE.replace("if x]", "if x.strip()]"),  # nested comprehension
        BASE.replace("v + 1", "v + 2"),  # inner function
        BASE.replace('{"a", "b", "c"}', '{"a", "b", "d"}'),  # frozenset constant
    ],
)
def test_logic_edits_change_the_fingerprint(variant: str) -> None:
    assert variant != BASE
    assert _fp(variant) != _fp(BASE)


def test_inner_function_docstring_does_not_count() -> None:
    with_doc = BASE.replace("def inner(v):\n", 'def inner(v):\n        """Add one."""\n')
    assert with_doc != BASE
    assert _fp(with_doc) == _fp(BASE)


def test_string_constants_in_lambdas_count() -> None:
    a = _fp("def load():\n    return (lambda: 'abc')()\n")
    b = _fp("def load():\n    return (lambda: 'xyz')()\n")
    assert a != b


def test_first_string_expression_that_is_not_a_docstring_counts() -> None:
    a = _fp("def load():\n    x = 1\n    return 'abc'\n")
    b = _fp("def load():\n    x = 1\n    return 'xyz'\n")
    assert a != b


def test_number_types_in_constants_count() -> None:
    assert _fp("def load():\n    return 1\n") != _fp("def load():\n    return 1.0\n")


def test_fingerprint_is_stable_across_processes() -> None:
    script = (
        "import textwrap\n"
        "from memcache_kit._keys import fingerprint\n"
        f"src = {BASE!r}\n"
        "ns = {}\n"
        "exec(compile(textwrap.dedent(src), '<cell>', 'exec'), ns)\n"
        "print(fingerprint(ns['load']))\n"
    )
    outs = set()
    for seed in ("3", "4"):  # the frozenset constant iterates in hash order
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        outs.add(run.stdout.strip())
    assert outs == {_fp(BASE)}


def test_fingerprint_of_a_builtin_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="version="):
        fingerprint(len)


# ---------------------------------------------------------------------------------------------
# Loader identities


def top(x: int) -> int:
    return x + 1


def other(x: int) -> int:
    return x + 1


@dataclasses.dataclass(frozen=True)
class Scaler:
    factor: float

    def __call__(self, x: float) -> float:
        return x * self.factor

    def apply(self, x: float) -> float:
        return x * self.factor


class Plain:
    def load(self) -> int:
        return 1


def test_functions_are_named_by_module_qualname_and_code() -> None:
    ident = loader_identity(top)
    assert b"test_fingerprint" in ident and b"top" in ident
    assert ident == loader_identity(top)
    assert ident != loader_identity(other)  # same code, another name


def test_builtins_partials_and_methods() -> None:
    assert loader_identity(len) != loader_identity(print)
    assert loader_identity(str.upper) != loader_identity(str.lower)
    p1 = functools.partial(top, 1)
    assert loader_identity(p1) == loader_identity(functools.partial(top, 1))
    assert loader_identity(p1) != loader_identity(functools.partial(top, 2))
    assert loader_identity(functools.partial(top, x=1)) != loader_identity(p1)
    assert loader_identity(Scaler(2).apply) == loader_identity(Scaler(2).apply)
    assert loader_identity(Scaler(2).apply) != loader_identity(Scaler(3).apply)
    assert loader_identity(Scaler(2)) != loader_identity(Scaler(3))
    assert loader_identity(Scaler(2)) != loader_identity(Scaler(2).apply)
    assert loader_identity(Scaler) != loader_identity(Plain)
    assert loader_identity([1].append) != loader_identity([2].append)


def test_unidentifiable_loaders_ask_for_key() -> None:
    with pytest.raises(TypeError, match="key="):
        loader_identity(Plain().load)

    class CallMe:
        def __call__(self) -> int:
            return 1

    with pytest.raises(TypeError, match="key="):
        loader_identity(CallMe())
    with pytest.raises(TypeError, match="not callable"):
        loader_identity(42)


def test_closures_are_told_apart_by_their_captured_values() -> None:
    def make(path: str) -> Any:
        return lambda: path.upper()

    assert loader_identity(make("a")) == loader_identity(make("a"))
    assert loader_identity(make("a")) != loader_identity(make("b"))

    def capture_object() -> Any:
        thing = Plain()
        return lambda: thing.load()

    with pytest.raises(TypeError, match="captures 'thing'"):
        loader_identity(capture_object())


def test_recursive_inner_function_and_wrappers() -> None:
    def outer() -> Any:
        def fact(n: int) -> int:
            return 1 if n <= 1 else n * fact(n - 1)

        return fact

    assert loader_identity(outer()) == loader_identity(outer())
    cached = functools.lru_cache(top)
    assert loader_identity(cached) != loader_identity(top)
    assert loader_identity(cached) == loader_identity(functools.lru_cache(top))


def test_edited_function_changes_identity() -> None:
    a = _func("def load(x):\n    return x + 1\n")
    b = _func("\n\ndef load(x):\n    # moved\n    return x + 1\n")
    c = _func("def load(x):\n    return x + 2\n")
    assert loader_identity(a) == loader_identity(b) != loader_identity(c)
    assert encode(a) == encode(b) != encode(c)
