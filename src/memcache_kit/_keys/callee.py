"""What a decorated callable is: what a call runs, its parameters, its receiver, its name.

``describe(obj)`` looks at any callable once, at decoration, and says how its calls are keyed:

- a Python function: its parameters; its identity is its code and its captured values;
- a bound method (``obj.method``, ``Class.classmethod``): the function's parameters after
  ``self``, and ``__self__`` as its *receiver*, keyed at every call as a method call keys
  ``self`` (so two instances never share entries, and a changed state is a new key);
- a builtin: bound to a module (``len``), identified by its qualified name; bound to an object
  (``data.get``), that object is its receiver;
- ``functools.partial``: the function's identity and the fixed arguments;
- a callable object: ``type(obj).__call__``'s parameters, the object as its receiver;
- a class, or a wrapper with ``__wrapped__`` (``lru_cache``): its loader identity.

The name (module, qualname) never holds a memory address, so a namespace is the same in every
process and run. ``Callee.marker(version)`` is the part of the namespace that stands for the
code: an ``IdentityError`` says it cannot be encoded (a closure over an unencodable value), and
then the function's entries stay in this process's memory.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .encode import class_id, encode
from .fingerprint import BUILTIN_TYPES, closure_cells, fingerprint, loader_identity

__all__ = ["NO_RECEIVER", "Callee", "IdentityError", "describe"]


class _NoReceiver:
    def __repr__(self) -> str:
        return "NO_RECEIVER"


NO_RECEIVER: Final[Any] = _NoReceiver()


class IdentityError(TypeError):
    """The callable's identity cannot be encoded; ``why`` says what (for the warning)."""


@dataclass(frozen=True, slots=True)
class Callee:
    """One callable as ``describe`` sees it (see the module docstring)."""

    target: Callable[..., Any]  # what a call runs
    module: str
    qualname: str
    receiver: Any  # keyed at every call (a bound method's __self__), or NO_RECEIVER
    kind: str  # function, method, builtin, partial, object, class, wrapper
    code: types.FunctionType | None  # whose code and captured values identify it
    is_async: bool

    def marker(self, version: Any) -> tuple[Any, ...]:
        """What stands for the code in the namespace. ``version=`` replaces the fingerprint;
        captured values (closure cells, a partial's arguments) are keyed either way, and a
        value that cannot be encoded raises ``IdentityError``, unless ``version=`` vouches
        for it: then its class stands for it."""
        lenient = version is not None
        head: tuple[Any, ...] = ("version", version) if lenient else ()
        target, code = self.target, self.code
        if self.kind == "method" and code is None:  # a bound method of a non-function
            return head or ("identity", _identity(target.__func__))  # type: ignore[attr-defined]
        if self.kind in ("function", "method"):
            assert code is not None
            cells = closure_cells(code, lenient=lenient)
            marker = head or ("code", fingerprint(code))
            # A function that captures nothing keeps the namespace it had before captured
            # values were keyed (its entries stay valid).
            return (*marker, "cells", cells) if cells else marker
        if self.kind == "partial":
            assert isinstance(target, functools.partial)
            fixed = _fixed(target, lenient)
            return (
                (*head, "partial", fixed)
                if lenient
                else ("identity", _identity(target.func), fixed)
            )
        if self.kind == "object":
            call = type(target).__call__
            if lenient:
                return head
            return ("object", fingerprint(call) if isinstance(call, types.FunctionType) else "")
        if self.receiver is not NO_RECEIVER:  # keyed at every call: only the name here
            return head or ("bound", self.module, self.qualname)
        return head or ("identity", _identity(target))


def _identity(obj: Any) -> bytes:
    try:
        return loader_identity(obj)
    except TypeError as e:
        raise IdentityError(str(e)) from None


def _fixed(p: functools.partial[Any], lenient: bool) -> tuple[Any, ...]:
    try:
        encode((p.args, p.keywords))
    except TypeError as e:
        if not lenient:
            raise IdentityError(
                f"its fixed arguments cannot be encoded ({e}); give them encodable values, or "
                "pass version= to vouch for them"
            ) from None
        return tuple(_lenient(a) for a in p.args), {k: _lenient(v) for k, v in p.keywords.items()}
    return p.args, dict(p.keywords)


def _lenient(value: Any) -> Any:
    try:
        encode(value)
    except TypeError:
        return ("<unencodable>", class_id(type(value)))
    return value


def describe(obj: Callable[..., Any]) -> Callee:
    """How ``obj``'s calls are keyed (see the module docstring); ``TypeError`` if not callable."""
    if isinstance(obj, types.MethodType):
        func = obj.__func__
        code = func if isinstance(func, types.FunctionType) else None
        return Callee(
            obj,
            _module(func),
            _qualname(func),
            obj.__self__,
            "method",
            code,
            _is_async(func),
        )
    if isinstance(obj, types.FunctionType):
        return Callee(obj, _module(obj), obj.__qualname__, NO_RECEIVER, "function", obj,
                      _is_async(obj))  # fmt: skip
    if isinstance(obj, BUILTIN_TYPES):
        bound = getattr(obj, "__self__", None)
        owner = getattr(obj, "__objclass__", None)
        module = getattr(obj, "__module__", None) or getattr(owner, "__module__", None)
        qualname = str(getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?"))
        receiver = NO_RECEIVER
        if bound is not None and not isinstance(bound, types.ModuleType):
            receiver = bound
            module = module or type(bound).__module__
        return Callee(obj, module or "builtins", qualname, receiver, "builtin", None, False)
    if isinstance(obj, functools.partial):
        inner = describe(obj.func)
        return Callee(obj, inner.module, f"partial({inner.qualname})", NO_RECEIVER, "partial",
                      None, _is_async(obj))  # fmt: skip
    if isinstance(obj, type):
        return Callee(obj, _module(obj), obj.__qualname__, NO_RECEIVER, "class", None, False)
    if not callable(obj):
        raise TypeError(f"cached() decorates functions and methods, not {obj!r}")
    t = type(obj)
    wrapped = getattr(obj, "__wrapped__", None)
    if wrapped is not None and callable(wrapped):  # lru_cache and other function wrappers
        inner = describe(wrapped)
        return Callee(obj, inner.module, inner.qualname, NO_RECEIVER, "wrapper", None,
                      inner.is_async)  # fmt: skip
    call = t.__call__
    return Callee(obj, _module(t), f"{t.__qualname__}.__call__", obj, "object", None,
                  _is_async(call))  # fmt: skip


def _module(obj: Any) -> str:
    module = vars(obj).get("__module__") if isinstance(obj, type) else None
    if module is None:
        module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else "__main__"


def _qualname(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None)
    return name if isinstance(name, str) else type(obj).__qualname__


def _is_async(func: Any) -> bool:
    return inspect.iscoroutinefunction(func)
