"""How a call's arguments become key parts: the binding plan and the receiver's key.

``inspect.Signature.bind`` costs microseconds per call; the plan below maps a call's
``(args, kwargs)`` to one canonical tuple of values in parameter order (defaults filled in,
``*args`` as a tuple, ``**kwargs`` as sorted pairs), so ``f(1, b=2)`` and ``f(1, 2)`` bind to
the same tuple. A call the plan cannot bind raises :class:`BindError`; the caller then calls the
function itself, which raises Python's own ``TypeError`` for the bad call.
"""

from __future__ import annotations

import contextlib
import copyreg
import inspect
import os
import threading
import weakref
from collections.abc import Callable, Collection, Hashable, Mapping
from typing import Any, Final

__all__ = ["BindError", "InstanceToken", "Plan", "instance_token", "receiver_part"]

_EMPTY: Final = inspect.Parameter.empty


class BindError(Exception):
    """The call does not match the signature (the function itself will say how)."""


class Plan:
    """How to bind one function's calls; ``names`` labels the slots ``bind`` returns."""

    __slots__ = (
        "_drop",
        "_kwonly",
        "_npos",
        "_nposonly",
        "_pos_defaults",
        "_pos_index",
        "_pos_names",
        "_varargs",
        "_varkw",
        "names",
        "simple",
    )

    def __init__(self, func: Callable[..., Any], ignore: Collection[str] = ()) -> None:
        qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
        names = [n for n in ignore if not isinstance(n, str)]
        if names:
            raise ValueError(
                f"ignore={_shown(ignore)}: {', '.join(map(repr, names))} is not a parameter "
                f"name; give the names of {qualname}()'s parameters to leave out of the key"
                + _params_of(func)
            )
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            # No signature (some builtins): a call binds to its arguments as given,
            # ``(args, sorted kwargs)``, so f(1, b=2) and f(1, 2) are two keys.
            params = _OPAQUE
        P = inspect.Parameter
        pos = [p for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
        self._pos_names = tuple(p.name for p in pos)
        self._pos_defaults = tuple(p.default for p in pos)
        self._pos_index = {
            p.name: i for i, p in enumerate(pos) if p.kind is P.POSITIONAL_OR_KEYWORD
        }
        self._npos = len(pos)
        self._nposonly = sum(p.kind is P.POSITIONAL_ONLY for p in pos)
        var = [p for p in params if p.kind is P.VAR_POSITIONAL]
        self._varargs = bool(var)
        self._kwonly = tuple((p.name, p.default) for p in params if p.kind is P.KEYWORD_ONLY)
        varkw = [p for p in params if p.kind is P.VAR_KEYWORD]
        self._varkw = bool(varkw)
        slots = [*self._pos_names, *(p.name for p in var)]
        slots += [n for n, _ in self._kwonly] + [p.name for p in varkw]
        unknown = sorted(set(ignore) - set(slots))
        if unknown:
            raise ValueError(
                f"ignore={_shown(ignore)}: {qualname}() has no parameter "
                f"{', '.join(map(repr, unknown))}; its parameters are {tuple(slots)!r}"
            )
        self._drop = frozenset(i for i, n in enumerate(slots) if n in ignore)
        self.names: tuple[str, ...] = tuple(n for i, n in enumerate(slots) if i not in self._drop)
        # All-positional calls of a plain signature bind to ``args`` itself: the hit path's
        # fast lane (see _front.wrappers) relies on this.
        self.simple = not (self._varargs or self._varkw or self._kwonly or self._drop)

    @property
    def npos(self) -> int:
        """How many positional parameters the function declares."""
        return self._npos

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
        """One value per slot of ``names``, in parameter order; raises ``BindError``."""
        n = len(args)
        npos = self._npos
        if n >= npos:
            if n > npos and not self._varargs:
                raise BindError
            out = list(args[:npos])
        else:
            out = list(args)
            for i in range(n, npos):
                name = self._pos_names[i]
                if i >= self._nposonly and name in kwargs:
                    out.append(kwargs[name])
                else:
                    d = self._pos_defaults[i]
                    if d is _EMPTY:
                        raise BindError
                    out.append(d)
        if self._varargs:
            out.append(args[npos:])
        if kwargs:
            used = 0
            index = self._pos_index
            for name in kwargs:
                j = index.get(name)
                if j is not None:
                    if j < n:
                        raise BindError  # given positionally and by name
                    used += 1
        else:
            used = 0
        for name, d in self._kwonly:
            if name in kwargs:
                out.append(kwargs[name])
                used += 1
            elif d is _EMPTY:
                raise BindError
            else:
                out.append(d)
        if self._varkw:
            taken = set(self._pos_names[self._nposonly : npos]) | {k for k, _ in self._kwonly}
            out.append(tuple(sorted((k, v) for k, v in kwargs.items() if k not in taken)))
        elif used != len(kwargs):
            raise BindError
        if self._drop:
            return tuple(v for i, v in enumerate(out) if i not in self._drop)
        return tuple(out)


_OPAQUE: Final = [
    inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
    inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD),
]


def _shown(ignore: Collection[Any]) -> str:
    items = sorted(map(repr, ignore))
    return "{" + ", ".join(items) + "}" if isinstance(ignore, set | frozenset) else repr(ignore)


def _params_of(func: Callable[..., Any]) -> str:
    try:
        return f" ({', '.join(inspect.signature(func).parameters)})"
    except (TypeError, ValueError):
        return ""


# -- the receiver (``self``/``cls``) of a cached method ------------------------------------------


class InstanceToken:
    """Stands for an instance that cannot be encoded: valid in this process, for its lifetime.

    ``entries`` records the memory keys stored under it (with the tier's ``delete``), so they
    are dropped when the instance dies instead of waiting for LRU.
    """

    __slots__ = ("__weakref__", "entries")

    def __init__(self) -> None:
        self.entries: dict[Hashable, Callable[[Hashable], object]] = {}


_tokens: dict[int, InstanceToken] = {}
_tokens_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # Another thread may have held the lock at fork; the child's copy would never be released.
    global _tokens_lock
    _tokens_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _instance_died(ident: int, token: InstanceToken) -> None:
    # weakref.finalize runs this while the instance is being freed, before its id can be
    # reused; a finalizer must not raise, and an entry it fails to drop ages out by LRU.
    _tokens.pop(ident, None)
    entries, token.entries = token.entries, {}
    for mem, delete in entries.items():
        with contextlib.suppress(Exception):
            delete(mem)


def instance_token(obj: object) -> InstanceToken:
    """The token of ``obj``; the cache never keeps ``obj`` alive (only its id and a finalizer)."""
    ident = id(obj)
    token = _tokens.get(ident)
    if token is not None:
        return token
    with _tokens_lock:
        token = _tokens.get(ident)
        if token is None:
            token = InstanceToken()
            try:
                weakref.finalize(obj, _instance_died, ident, token)
            except TypeError:
                raise TypeError(
                    f"cannot key instances of {type(obj).__qualname__}: their state cannot be "
                    "encoded and they cannot be weakly referenced; define __cache_key__() on "
                    "the class (or add '__weakref__' to its __slots__)"
                ) from None
            _tokens[ident] = token
    return token


def receiver_part(obj: object, encode: Callable[[Any], bytes]) -> tuple[Any, bool]:
    """The key part standing for ``self``/``cls``, and whether it is valid across processes.

    A class is keyed by its qualified name; an instance by ``__cache_key__()`` when its class
    defines one, else by its state when all of it can be encoded: a dataclass or namedtuple
    by its fields, a builtin value (or a subclass of one that adds no attributes, such as
    ``class Level(int)``) by its value, an object with no state at all by its class alone;
    else by an ``InstanceToken``. "No state beyond its value" is what pickle sees: the object
    reduces to ``cls.__new__(cls, *value)`` with no attributes. The instance's class is part of
    the key, so a subclass's instances never share entries with the base class's.
    """
    t = type(obj)
    if isinstance(obj, type):
        return ("memcache_kit.cls", obj.__module__, obj.__qualname__), True
    own = getattr(t, "__cache_key__", None)
    if own is not None:
        return ("memcache_kit.obj", t.__module__, t.__qualname__, own(obj)), True
    if hasattr(t, "__dataclass_fields__") or (isinstance(obj, tuple) and hasattr(t, "_fields")):
        state: Any = obj
    else:
        state = _value_state(obj, t)
    if state is not _NO_STATE:
        part = ("memcache_kit.obj", t.__module__, t.__qualname__, state)
        try:
            encode(part)
        except TypeError:
            pass
        else:
            return part, True
    return instance_token(obj), False


_NO_STATE: Final = object()
_NEWOBJ: Final = getattr(copyreg, "__newobj__")  # noqa: B009 - not in typeshed
_STATELESS: Final = ("memcache_kit.stateless",)
# Builtin values whose encoding is their whole state (for a subclass: when it adds none).
_VALUE_BASES: Final = (
    int,
    float,
    complex,
    str,
    bytes,
    bytearray,
    tuple,
    list,
    dict,
    set,
    frozenset,
)


def _value_state(obj: object, t: type) -> Any:
    """``obj`` itself when its value is all its state, ``_STATELESS`` when it has none, else
    ``_NO_STATE``; decided by how pickle would rebuild it (``cls.__new__(cls, *args)`` with no
    state: no attributes, no slots, no hidden C state, which cannot be reduced that way)."""
    if getattr(obj, "__dict__", None):
        return _NO_STATE  # attributes of its own: a token (and no reduce on this hot path)
    try:
        reduced = obj.__reduce_ex__(4)
    except Exception:
        return _NO_STATE
    if (
        not isinstance(reduced, tuple)
        or len(reduced) < 2
        or reduced[0] is not _NEWOBJ
        or not isinstance(reduced[1], tuple)
        or reduced[1][:1] != (t,)
        or (len(reduced) > 2 and reduced[2])
    ):
        return _NO_STATE
    if isinstance(obj, _VALUE_BASES):
        return obj
    if len(reduced[1]) == 1 and all(x is None for x in reduced[3:]):
        return _STATELESS
    return _NO_STATE
