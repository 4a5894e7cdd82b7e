"""A tiny FHIRPath subset for flattening FHIR resources into columns.

Supported: member access ``a.b.c`` (arrays are flattened, as in FHIRPath),
``where(field='value')`` (field may be dotted), ``first()``, ``last()``,
``exists()``, ``count()`` and the union ``a | b``; and three functions of passerelle's own over
``Patient.identifier`` (:mod:`passerelle.ingest.ins`): ``ins()`` (the INS value),
``ins_kind()`` (which INS system) and ``local_id()`` (``system|value`` of the
first other identifier).  :func:`compile_path` parses once; the compiled path
maps a resource (parsed JSON) to a list of values.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from passerelle.errors import ConfigError
from passerelle.ingest.ins import ins_kind, ins_value, local_identifier

__all__ = ["CompiledPath", "compile_path", "to_text"]

CompiledPath = Callable[[Any], list[Any]]
_STEP = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:\((?P<args>(?:[^()']|'[^']*')*)\))?"
)
_FUNCTIONS: dict[str, Callable[[list[Any]], list[Any]]] = {
    "ins": ins_value,
    "ins_kind": ins_kind,
    "local_id": local_identifier,
}
_WHERE = re.compile(r"^\s*(?P<field>[A-Za-z_][A-Za-z0-9_.]*)\s*=\s*'(?P<value>[^']*)'\s*$")


def _split(path: str, sep: str = ".") -> list[str]:
    """``path`` cut at each ``sep`` outside quotes and parentheses."""
    steps, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(path):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == sep:
            steps.append(path[start:i])
            start = i + 1
    steps.append(path[start:])
    return steps


def _members(items: list[Any], *, name: str) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict) and name in item:
            value = item[name]
            if isinstance(value, list):
                out.extend(v for v in value if v is not None)
            elif value is not None:
                out.append(value)
    return out


def _where(items: list[Any], *, sub: CompiledPath, want: str) -> list[Any]:
    return [i for i in items if any(str(v) == want for v in sub(i))]


def compile_path(path: str) -> CompiledPath:
    """Parse ``path`` once; raise :class:`ConfigError` for anything outside the subset.

    ``a | b`` is the union of two paths (their values one after the other)."""
    parts = _split(path, "|")
    if len(parts) > 1:
        compiled = [compile_path(part) for part in parts]
        return lambda resource: [v for c in compiled for v in c(resource)]
    ops: list[Callable[[list[Any]], list[Any]]] = []
    for step in _split(path.strip()):
        m = _STEP.fullmatch(step.strip())
        if not m:
            raise ConfigError(f"FHIR path {path!r}: cannot read step {step!r}.")
        name, args = m.group("name"), m.group("args")
        if args is None:
            ops.append(functools.partial(_members, name=name))
        elif name == "first" and not args.strip():
            ops.append(lambda items: items[:1])
        elif name == "last" and not args.strip():
            ops.append(lambda items: items[-1:])
        elif name == "exists" and not args.strip():
            ops.append(lambda items: [bool(items)])
        elif name == "count" and not args.strip():
            ops.append(lambda items: [len(items)])
        elif name in _FUNCTIONS and not args.strip():
            ops.append(_FUNCTIONS[name])
        elif name == "where" and (w := _WHERE.match(args)):
            ops.append(
                functools.partial(_where, sub=compile_path(w.group("field")), want=w.group("value"))
            )
        else:
            raise ConfigError(
                f"FHIR path {path!r}: {step!r} is not supported "
                "(use a.b, where(field='value'), first(), last(), exists(), count(), "
                "ins(), ins_kind(), local_id())."
            )

    def evaluate(resource: Any) -> list[Any]:
        items = [resource]
        for op in ops:
            items = op(items)
        return items

    return evaluate


def to_text(values: list[Any]) -> str | None:
    """A column's text from a path result: none -> null, several -> joined by ``|``."""
    if not values:
        return None
    parts = []
    for v in values:
        if isinstance(v, bool):
            parts.append("true" if v else "false")
        elif isinstance(v, str):
            parts.append(v)
        elif isinstance(v, int | float):
            parts.append(repr(v))
        else:
            parts.append(json.dumps(v, separators=(",", ":"), sort_keys=True))
    return "|".join(parts)
