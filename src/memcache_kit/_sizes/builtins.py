"""The sizers of builtins and plain objects that ``sizeof``'s walk dispatches to (a leaf).

Each handler charges an object's own bytes to the walk and hands its children back to it.
Containers with at most ``walk._EXACT_N`` children are walked in full (read from that
module at call time, so the one setting governs both).
"""

from __future__ import annotations

import array
import gc
import mmap
import sys
import types
from collections import deque
from typing import Any

from . import walk as _w
from .walk import _MEDIUM_INT, _ONE_DIGIT_INT, Dispatch, _Handler, _Walk

_FREE_TYPES = {
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    types.CodeType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
}


def _free(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    """Classes, functions and modules belong to the program, not to the value."""


def _leaf(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    walk.charge(obj, sys.getsizeof(obj))


def _int(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    size = sys.getsizeof(obj)
    walk.charge(obj, _MEDIUM_INT if size == _ONE_DIGIT_INT else size)


def _sequence(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    own = sys.getsizeof(obj)
    walk.charge(obj, own)
    if budget < 0:
        return
    seq = obj if isinstance(obj, list | tuple) else list(obj)
    walk.children(seq, budget, depth, own)


def _set(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    own = sys.getsizeof(obj)
    walk.charge(obj, own)
    if budget < 0 or not obj:
        return
    if len(obj) <= _w._EXACT_N and len(obj) <= budget:
        child_budget = (budget - len(obj)) // len(obj)
        for child in obj:
            walk.visit(child, child_budget, depth + 1)
        return
    seq = list(obj)
    walk.children(seq, budget, depth, own)


def _dict(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    own = sys.getsizeof(obj)
    walk.charge(obj, own)
    if budget < 0 or not obj:
        return
    n = len(obj)
    if n <= _w._EXACT_N and 2 * n <= budget:
        child_budget = (budget - 2 * n) // (2 * n)
        for key, value in obj.items():
            walk.visit(key, child_budget, depth + 1)
            walk.visit(value, child_budget, depth + 1)
        return
    walk.children(list(obj), budget, depth, own, obj)


def _memoryview(walk: _Walk, obj: memoryview, budget: int, depth: int) -> None:
    walk.charge(obj, sys.getsizeof(obj))
    try:
        base = obj.obj
    except ValueError:  # released
        return
    walk.visit(base, budget, depth + 1)


def _mmap(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    # Mapped pages belong to the page cache, which the kernel reclaims: nothing resident.
    walk.charge(obj, sys.getsizeof(obj))


_BUILTIN: dict[type, _Handler] = {
    bytes: _leaf,
    bytearray: _leaf,
    str: _leaf,
    int: _int,
    float: _leaf,
    complex: _leaf,
    range: _leaf,
    array.array: _leaf,
    list: _sequence,
    tuple: _sequence,
    deque: _sequence,
    dict: _dict,
    set: _set,
    frozenset: _set,
    memoryview: _memoryview,
    mmap.mmap: _mmap,
}


def _plain_instance(t: type) -> bool:
    return getattr(t, "__sizeof__", None) is object.__sizeof__ and (
        t.__dictoffset__ != 0 or bool(_slot_names(t))
    )


_slots_cache: dict[type, tuple[str, ...]] = {}


def _slot_names(t: type) -> tuple[str, ...]:
    names = _slots_cache.get(t)
    if names is None:
        found: list[str] = []
        for klass in t.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for s in (slots,) if isinstance(slots, str) else slots:
                if s not in ("__dict__", "__weakref__") and s not in found:
                    found.append(s)
        names = _slots_cache[t] = tuple(found)
    return names


# Python 3.11 and 3.12 keep an instance's attribute values in an array outside the object until
# something asks for __dict__ (asking would allocate a dict, so sizeof() does not). Measured with
# tracemalloc on 3.11: 8 bytes a value plus 16 to 20; getsizeof() counts none of it.
_MANAGED_DICT = 1 << 4  # Py_TPFLAGS_MANAGED_DICT
_VALUES_ARRAY = (3, 11) <= sys.version_info[:2] < (3, 13)


def _instance(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    t = type(obj)
    size = sys.getsizeof(obj)
    # The GC's view of the object lists its attribute and slot values (or its __dict__ once one
    # exists) without creating anything.
    refs = [r for r in gc.get_referents(obj) if r is not t]
    if (
        _VALUES_ARRAY
        and t.__flags__ & _MANAGED_DICT
        and not (len(refs) == 1 and type(refs[0]) is dict)
    ):
        size += 8 * len(refs) + 18
    walk.charge(obj, size)
    if budget < 0:
        return
    for r in refs:
        walk.visit(r, budget // max(len(refs), 1), depth + 1)


_PYMPLER_LIMIT = 8  # recursion depth for pympler: bounds its time on unknown objects


def _pympler(walk: _Walk, obj: Any, budget: int, depth: int) -> None:
    from pympler import asizeof

    try:
        size = asizeof.asizeof(  # type: ignore[no-untyped-call]
            obj, limit=_PYMPLER_LIMIT if budget >= 0 else 0
        )
    except Exception:  # pympler cannot size every C type; its shallow size is the honest floor
        size = sys.getsizeof(obj, 0)
    walk.charge(obj, int(size))


Dispatch.builtin.update(_BUILTIN)
Dispatch.free_types.update(_FREE_TYPES)
Dispatch.free, Dispatch.instance, Dispatch.pympler = _free, _instance, _pympler
Dispatch.plain_instance = _plain_instance
