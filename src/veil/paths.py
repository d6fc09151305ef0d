"""The one field-path syntax of veil.

A path names a field inside a record: ``zip``, ``address.city``, ``name[*].given``.
``[*]`` after a segment means "each item of this list". Paths are parsed once, at
load time; engines walk compiled schema trees, never strings.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*)(\[\*\])?$")
_SELECTOR = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_\-]*)+$")


@dataclass(frozen=True)
class Segment:
    key: str
    each: bool = False  # the value at ``key`` is a list; the path continues in each item


class PathSyntaxError(ValueError):
    pass


def parse(path: str) -> tuple[Segment, ...]:
    """Parse ``a.b[*].c``; raise PathSyntaxError naming the bad segment."""
    if not path:
        raise PathSyntaxError("empty field path")
    segments = []
    for part in path.split("."):
        m = _SEGMENT.match(part)
        if not m:
            raise PathSyntaxError(
                f"bad segment '{part}' in field path '{path}' "
                "(use names like 'address.city' or 'name[*].given')"
            )
        segments.append(Segment(m.group(1), m.group(2) is not None))
    return tuple(segments)


def parent(path: str) -> str | None:
    """``name[*].given`` -> ``name``; ``a.b`` -> ``a``; top-level -> None."""
    if "." not in path:
        return None
    head = path.rsplit(".", 1)[0]
    return head[:-3] if head.endswith("[*]") else head


def strip_each(path: str) -> str:
    """``name[*].given`` -> ``name.given``: the form record selectors in rules use."""
    return path.replace("[*]", "")


@functools.lru_cache(maxsize=4096)
def parse_selector(selector: str) -> tuple[str, ...]:
    """Parse the ObjectPath subset veil supports in rules: ``$.a.b`` -> ("a", "b").

    Field-level planning needs to know statically which attribute a condition reads,
    so arbitrary ObjectPath expressions are rejected rather than half-understood.
    """
    if not _SELECTOR.match(selector):
        raise PathSyntaxError(
            f"unsupported attribute selector '{selector}' "
            "(veil supports dotted ObjectPath selectors such as '$.role' or '$.record.consent')"
        )
    return tuple(selector[2:].split("."))


def get_dotted(obj: Any, keys: tuple[str, ...]) -> Any:
    """Follow dict keys; None when any step is missing or not a mapping."""
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
        if obj is None:
            return None
    return obj
