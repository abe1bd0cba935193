"""Proxy behaviour that lazy-object-proxy's and wrapt's documentation promise, against
``mk.lazy`` (their suites in ``peers/`` cover the rest)."""

from __future__ import annotations

import math
import operator
import os
import weakref
from typing import Any

import pytest
from adapter import LAZY_CACHE

import memcache_kit as mk


class Box:
    """A value with the usual protocols."""

    def __init__(self, items: list[int]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Any:
        return iter(self.items)

    def __enter__(self) -> str:
        return "entered"

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, k: int) -> int:
        return k * len(self.items)


def proxy(value: Any) -> Any:
    return mk.lazy(_identity, value, cache=LAZY_CACHE, key=("documented", id(value)))


def _identity(value: Any) -> Any:
    return value


def test_nothing_is_loaded_until_first_use() -> None:
    used: list[int] = []
    p = mk.lazy(lambda: used.append(1) or 5, cache=LAZY_CACHE, key=("documented", "lazy"))
    repr(p)
    assert used == []
    assert not p.__resolved__
    assert p + 1 == 6
    assert used == [1]


def test_the_class_is_the_values_and_the_type_is_the_proxys() -> None:
    box = Box([1, 2])
    p = proxy(box)
    assert p.__class__ is Box
    assert isinstance(p, Box)
    assert type(p) is not Box
    assert p.__wrapped__ is box


def test_names_and_docs_are_the_values() -> None:
    p = proxy(Box)
    assert (p.__name__, p.__qualname__, p.__module__) == ("Box", "Box", Box.__module__)
    assert p.__doc__ == Box.__doc__


def test_protocols_are_forwarded() -> None:
    p = proxy(Box([1, 2, 3]))
    assert len(p) == 3
    assert list(p) == [1, 2, 3]
    assert 2 in list(p)
    assert callable(p)
    assert p(2) == 6
    with p as entered:
        assert entered == "entered"
    assert "items" in dir(p)


def test_hash_equality_and_order_are_the_values() -> None:
    p = proxy("key")
    assert hash(p) == hash("key")
    assert p == "key"
    assert {"key": 1}[p] == 1
    n = proxy(3)
    assert n < 4 and n >= 3 and n > 2
    assert (n + 1, 1 + n, n * 2, -n, abs(-n), n**2, divmod(n, 2)) == (4, 4, 6, -3, 3, 9, (1, 1))
    assert operator.index(n) == 3


def test_numeric_conversions_are_the_values() -> None:
    x = proxy(3.75)
    assert (int(x), float(x), complex(x), round(x, 1)) == (3, 3.75, 3.75 + 0j, 3.8)
    assert (math.trunc(x), math.floor(x), math.ceil(x)) == (3, 3, 4)


def test_a_proxy_of_a_class_checks_instances() -> None:
    p = proxy(int)
    assert isinstance(3, p)
    assert issubclass(bool, p)
    assert p("7") == 7


def test_keywords_of_any_name_reach_the_value() -> None:
    p = proxy(dict)
    assert p(self=1, other=2) == {"self": 1, "other": 2}


def test_a_proxy_can_be_weakly_referenced() -> None:
    p = proxy(Box([1]))
    ref = weakref.ref(p)
    assert ref() is p


def test_fspath_of_a_path_value() -> None:
    assert os.fspath(proxy("/tmp/x")) == "/tmp/x"
    with pytest.raises(TypeError):
        os.fspath(proxy(42))


def test_a_proxy_of_a_non_path_is_not_path_like() -> None:
    assert not isinstance(proxy(42), os.PathLike)
