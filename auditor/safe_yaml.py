"""YAML from people and uploads, parsed with caps so a small file cannot exhaust the machine.

``yaml.safe_load`` builds no objects, but it still follows aliases (a 1 kB "billion
laughs" expands to 10^9 nodes when copied or serialised) and recurses once per level
of nesting (a deep list ends in RecursionError). :func:`load_yaml` refuses a text
longer than :data:`MAX_YAML_CHARS`, nesting deeper than :data:`MAX_YAML_DEPTH`, more
than :data:`MAX_YAML_ALIASES` aliases, a recursive alias, and a document whose
expanded size (every alias counted as a full copy of what it names) exceeds
:data:`MAX_YAML_NODES`. Syntax errors are left to the caller (``yaml.YAMLError``,
with their line and column); a cap raises :class:`InputLimitError`.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from auditor.errors import InputLimitError

__all__ = [
    "MAX_YAML_ALIASES",
    "MAX_YAML_CHARS",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "CappedSafeLoader",
    "load_json",
    "load_yaml",
]

MAX_YAML_CHARS = 2_000_000
MAX_YAML_DEPTH = 64
MAX_YAML_ALIASES = 1_000
MAX_YAML_NODES = 200_000

YAML_TOO_LONG = "{source}: the YAML text has {size:,} characters; the limit is {limit:,}"
YAML_TOO_DEEP = "{source}: line {line}: the YAML nests deeper than {limit} levels"
YAML_TOO_MANY_ALIASES = "{source}: line {line}: the YAML uses more than {limit:,} aliases (*name)"
YAML_RECURSIVE_ALIAS = "{source}: line {line}: the YAML alias refers to a node that contains it"
JSON_TOO_DEEP = "{source}: the JSON nests deeper than {limit} levels"
YAML_TOO_BIG = (
    "{source}: line {line}: the YAML expands to more than {limit:,} values once its aliases "
    "(*name) are followed"
)


class CappedSafeLoader(yaml.SafeLoader):
    """SafeLoader whose composer counts depth, aliases and expanded size as it builds nodes."""

    source = "YAML"

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._weights: dict[int, int] = {}

    def _fail(self, template: str, limit: int = 0) -> InputLimitError:
        mark = self.peek_event().start_mark if self.check_event() else None
        line = mark.line + 1 if mark is not None else "?"
        return InputLimitError(template.format(source=self.source, line=line, limit=limit))

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise self._fail(YAML_TOO_MANY_ALIASES, MAX_YAML_ALIASES)
            error = self._fail(YAML_RECURSIVE_ALIAS)
            node = super().compose_node(parent, index)
            if node is not None and id(node) not in self._weights:
                raise error  # the anchor is still being composed: it contains this alias
            return node
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise self._fail(YAML_TOO_DEEP, MAX_YAML_DEPTH)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._weigh(node)
        return node

    def _weigh(self, node: Node) -> None:
        weight = 1
        if isinstance(node, MappingNode):
            for key, value in node.value:
                weight += self._weights.get(id(key), 1) + self._weights.get(id(value), 1)
        elif isinstance(node, SequenceNode):
            weight += sum(self._weights.get(id(item), 1) for item in node.value)
        if weight > MAX_YAML_NODES:
            raise self._fail(YAML_TOO_BIG, MAX_YAML_NODES)
        self._weights[id(node)] = weight


def load_yaml(text: str, *, source: str, loader: type[CappedSafeLoader] = CappedSafeLoader) -> Any:
    """Parse one YAML document from ``text`` under the caps above.

    ``source`` names the text in messages (a file name, or "uploaded policy").
    ``loader`` may be a subclass of :class:`CappedSafeLoader` with more rules.
    """
    if len(text) > MAX_YAML_CHARS:
        raise InputLimitError(
            YAML_TOO_LONG.format(source=source, size=len(text), limit=MAX_YAML_CHARS)
        )
    capped = type("_Loader", (loader,), {"source": source})
    instance = capped(text)
    try:
        return instance.get_single_data()
    finally:
        instance.dispose()


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def load_json(text: str, *, source: str) -> Any:
    """``json.loads`` under the same size and depth caps as :func:`load_yaml`.

    Syntax errors stay ``json.JSONDecodeError`` for the caller to place; a text
    nested too deeply for the parser (RecursionError) is a cap, not a bug.
    """
    import json

    if len(text) > MAX_YAML_CHARS:
        raise InputLimitError(
            YAML_TOO_LONG.format(source=source, size=len(text), limit=MAX_YAML_CHARS)
        )
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        deep = True
    else:
        deep = not _depth_ok(value, MAX_YAML_DEPTH)
    if deep:
        raise InputLimitError(JSON_TOO_DEEP.format(source=source, limit=MAX_YAML_DEPTH))
    return value
