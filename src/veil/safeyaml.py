"""YAML with limits checked before anything is built: size, nesting depth, aliases, and
the size of the document once aliases are expanded.

A YAML "billion laughs" (anchors referencing anchors) is a few hundred bytes that expand
to billions of nodes: PyYAML composes it without expanding, but anything that walks the
result (validation, duplicate-key checks) does, and a bundle reload froze a service
that way. Deep nesting overflows PyYAML's recursive composer. Here the document is first
read as a stream of parser events (PyYAML's parser is a state machine, so this pass
cannot recurse), which bounds depth, event count and aliases; then composed; then its
expanded size is computed with one memoized walk. Only then is it constructed.

Every policy, settings, key and API-key file goes through :func:`load`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64
    max_events: int = 2_000_000
    max_aliases: int = 10_000
    #: nodes of the document with every alias expanded
    max_nodes: int = 1_000_000


DEFAULT = Limits()


class YamlLimitError(ValueError):
    """The document breaks a limit; the message names the limit, never the content."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _line(ev: yaml.Event) -> int | None:
    mark = ev.start_mark
    return mark.line + 1 if mark is not None else None


def _events(text: str, limits: Limits) -> None:
    depth = aliases = 0
    for events, ev in enumerate(yaml.parse(text, Loader=yaml.SafeLoader), 1):
        if isinstance(ev, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > limits.max_depth:
                raise YamlLimitError(f"nesting deeper than {limits.max_depth} levels", _line(ev))
        elif isinstance(ev, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
        elif isinstance(ev, yaml.AliasEvent):
            aliases += 1
            if aliases > limits.max_aliases:
                raise YamlLimitError(f"more than {limits.max_aliases} aliases", _line(ev))
        if events > limits.max_events:
            raise YamlLimitError(f"more than {limits.max_events} YAML events")


def expanded_size(node: yaml.Node, cap: int) -> int:
    """Nodes in ``node`` with aliases expanded, stopping once past ``cap``."""
    memo: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        memo[key] = cap + 1  # a cycle (recursive alias) counts as too large
        total = 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k) + size(v)
                if total > cap:
                    break
        elif isinstance(n, yaml.SequenceNode):
            for item in n.value:
                total += size(item)
                if total > cap:
                    break
        memo[key] = total
        return total

    return size(node)


def compose(text: str, limits: Limits = DEFAULT) -> yaml.Node | None:
    """The document's node graph, after every limit has been checked."""
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise YamlLimitError(f"larger than {limits.max_bytes // 1024} KiB")
    _events(text, limits)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is not None and expanded_size(node, limits.max_nodes) > limits.max_nodes:
        raise YamlLimitError(f"more than {limits.max_nodes:,} nodes once aliases are expanded", 1)
    return node


def construct(node: yaml.Node | None) -> Any:
    """Python data from a composed (and checked) node graph. PyYAML flattens merge keys
    (``<<: *anchor``) into the graph while constructing: pass a copy to keep it."""
    if node is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load(text: str, limits: Limits = DEFAULT) -> Any:
    """``yaml.safe_load`` with :class:`Limits`; raises YamlLimitError or yaml.YAMLError."""
    return construct(compose(text, limits))
