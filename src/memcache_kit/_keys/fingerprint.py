"""Code fingerprints and loader identities (a leaf beside ``_keys``).

``fingerprint(func)`` hashes what a function does, from its compiled code alone (so functions
defined in notebooks and ``exec`` strings work): the bytecode, constants, names and argument
layout, recursively through nested code objects. Line numbers, comments and the docstring are
left out, so moving a function or rewording its documentation keeps its entries; editing its
logic drops them. Functions it calls by name are not followed: editing a helper does not change
the fingerprint of its caller (give ``version=``).

``loader_identity(obj)`` names a callable across processes; decorators, proxies and datasets
namespace their entries with it.
"""

from __future__ import annotations

import dis
import functools
import inspect
import threading
import types
from collections.abc import Callable
from typing import Any, Final

import xxhash

from .encode import UnencodableKeyError, class_id, encode, register_callable_identity

__all__ = ["BUILTIN_TYPES", "TRANSPARENT", "closure_cells", "fingerprint", "loader_identity"]

#: The attribute naming what a memcache_kit wrapper computes (the decorated callable): the
#: wrapper is identified as it, so a closure that captures a cached function is keyed by it.
TRANSPARENT: Final = "__memcache_kit_wraps__"

# 3.14 marks a docstring with a flag; before, a function's co_consts[0] is its docstring or None.
_CO_HAS_DOCSTRING: Final = getattr(inspect, "CO_HAS_DOCSTRING", 0)


# Generator, coroutine, varargs and scope flags. Compiler-feature flags (``from __future__``,
# inherited by exec/compile from the caller) are left out: what they change shows in the bytecode.
_BEHAVIOUR_FLAGS: Final = 0x3FF


def _code_parts(code: types.CodeType) -> tuple[Any, ...]:
    consts: list[Any] = []
    for i, c in enumerate(code.co_consts):
        if isinstance(c, types.CodeType):
            consts.append(("<code>", _code_parts(c)))
        elif i == 0 and isinstance(c, str) and _has_docstring_slot(code):
            consts.append(None)  # the docstring: not part of what the function does
        else:
            consts.append(c)
    return (
        code.co_name,
        code.co_code,
        tuple(consts),
        code.co_names,
        code.co_varnames,
        code.co_freevars,
        code.co_cellvars,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags & _BEHAVIOUR_FLAGS,
        code.co_exceptiontable,  # try/except ranges, in bytecode offsets (no line numbers)
    )


def _has_docstring_slot(code: types.CodeType) -> bool:
    if _CO_HAS_DOCSTRING:
        return bool(code.co_flags & _CO_HAS_DOCSTRING)
    # Functions (CO_NEWLOCALS) other than lambdas and comprehensions keep their docstring in
    # co_consts[0]. A docstring is never loaded by the bytecode: if const 0 is, it is a value.
    if not code.co_flags & inspect.CO_NEWLOCALS or code.co_name.startswith("<"):
        return False
    return not any(i.arg == 0 and i.opcode in _HASCONST for i in dis.get_instructions(code))


_HASCONST: Final = frozenset(dis.hasconst)


def _maybe(value: Any) -> Any:
    """``value`` if it has a canonical encoding, else its type's identity (defaults that are
    objects still distinguish by class)."""
    try:
        encode(value, typed=True)
    except TypeError:
        return ("<unencodable>", class_id(type(value)))
    return value


def fingerprint(func: Callable[..., Any]) -> str:
    """A fingerprint of a function's compiled code: bytecode, constants and names, recursively
    through nested code objects, plus its defaults; not line numbers, comments or docstrings."""
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        raise TypeError(
            f"cannot fingerprint {func!r}: it has no Python code object (a builtin or a callable "
            "object); pass version= or key= instead"
        )
    defaults = getattr(func, "__defaults__", None)
    kwdefaults = getattr(func, "__kwdefaults__", None)
    parts = (
        _code_parts(code),
        None if defaults is None else tuple(_maybe(d) for d in defaults),
        None if kwdefaults is None else {k: _maybe(v) for k, v in kwdefaults.items()},
    )
    return xxhash.xxh3_128_hexdigest(encode(parts, typed=True))


BUILTIN_TYPES: Final = (
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
    types.ClassMethodDescriptorType,
)

# Functions whose identity this thread is building (a recursive closure refers back to itself).
_local = threading.local()


def loader_identity(obj: Any) -> bytes:
    """Bytes naming a callable across processes, to namespace the entries it produces.

    - a Python function: module, qualname, ``fingerprint`` and the values of its closure cells;
    - a builtin: its qualified name (and the object it is bound to, unless a module);
    - ``functools.partial``: the function's identity and the encoded arguments;
    - a bound method: the function's identity and the encoded ``__self__``;
    - a class: module and qualname;
    - another callable: its type's identity, ``__call__``'s fingerprint and its encoded state
      (a dataclass, a namedtuple, or ``__cache_key__()``).

    Raises ``TypeError`` (telling the user to pass ``key=``) when any part cannot be encoded.
    """
    if isinstance(obj, functools.partial):
        return (
            b"p" + _len_prefixed(loader_identity(obj.func)) + _state(obj, (obj.args, obj.keywords))
        )
    if isinstance(obj, types.MethodType):
        return b"m" + _len_prefixed(loader_identity(obj.__func__)) + _state(obj, obj.__self__)
    if isinstance(obj, types.FunctionType):
        wraps = getattr(obj, TRANSPARENT, None)
        if wraps is not None:
            return b"w" + _len_prefixed(loader_identity(wraps))
        return b"f" + _function_identity(obj)
    if isinstance(obj, BUILTIN_TYPES):
        owner = getattr(obj, "__objclass__", None)
        module = getattr(obj, "__module__", None) or getattr(owner, "__module__", None)
        qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
        bound = getattr(obj, "__self__", None)
        if module is None and bound is not None:
            module = type(bound).__module__
        head = encode((module, qualname))
        if bound is None or isinstance(bound, types.ModuleType):
            return b"b" + head
        return b"b" + head + _state(obj, bound)
    if isinstance(obj, type):
        return b"t" + class_id(obj)
    if not callable(obj):
        raise TypeError(f"cannot identify loader {obj!r}: it is not callable")
    wrapped = getattr(obj, "__wrapped__", None)
    if wrapped is not None and callable(wrapped):  # lru_cache and other function wrappers
        return b"w" + class_id(type(obj)) + _len_prefixed(loader_identity(wrapped))
    call = getattr(type(obj), "__call__", None)  # noqa: B004 - the class attribute, not callable()
    code = fingerprint(call) if isinstance(call, types.FunctionType) else ""
    return b"o" + class_id(type(obj)) + encode(code) + _state(obj, obj)


def _function_identity(func: types.FunctionType) -> bytes:
    cells = closure_cells(func, lenient=False)
    return encode((func.__module__, func.__qualname__, fingerprint(func))) + encode(list(cells))


def closure_cells(func: types.FunctionType, *, lenient: bool) -> tuple[bytes, ...]:
    """The encoded values of ``func``'s closure cells, in order (an empty cell as None).

    A value that cannot be encoded raises ``TypeError`` naming it; with ``lenient`` its class
    stands for it instead. A function that captures itself (a recursive closure, directly or
    through a cached wrapper) is encoded as ``self`` there.
    """
    active: set[int] | None = getattr(_local, "active", None)
    if active is None:
        active = _local.active = set()
    if id(func) in active:
        return (b"self",)
    active.add(id(func))
    try:
        cells = []
        for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=True):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell: not yet assigned
                value = None
            if isinstance(value, types.FunctionType) and id(value) in active:
                cells.append(b"self")
                continue
            try:
                cells.append(encode(value))
            except TypeError:
                if lenient:
                    cells.append(encode(("<unencodable>", class_id(type(value)))))
                    continue
                raise TypeError(
                    f"cannot identify loader {func.__qualname__!r}: it captures {name!r} "
                    f"({type(value)!r}), which has no canonical encoding, so two such functions "
                    "could not be told apart; pass key= (or version=), or capture an encodable "
                    "value"
                ) from None
        return tuple(cells)
    finally:
        active.discard(id(func))


def _state(obj: Any, value: Any) -> bytes:
    try:
        return encode(value)
    except UnencodableKeyError as e:
        raise TypeError(
            f"cannot identify loader {_name(obj)}: {e}. Give the loader a canonical state (a "
            "dataclass, or a __cache_key__() method) or pass key= to name its entries"
        ) from None


def _name(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None)
    return repr(name) if isinstance(name, str) else f"of type {type(obj).__qualname__}"


def _len_prefixed(b: bytes) -> bytes:
    return len(b).to_bytes(8, "big") + b


register_callable_identity(loader_identity)
