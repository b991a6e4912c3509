"""YAML with limits: one loader for specs, policies and the server configuration.

``yaml.safe_load`` builds no objects but still lets a few hundred bytes of
anchors and aliases ("billion laughs") expand into a structure that exhausts
memory once anything walks it (schema validation, hashing, JSON). Every YAML
text the tool reads, from the CLI or the dashboard, goes through
:func:`load_yaml`, which refuses a text that is too large, too deep, uses too
many aliases, or expands to too many nodes, before anything is constructed.
Syntax errors are left to the caller (as ``yaml.YAMLError``) so each file type
keeps its own message with the line and column.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from auditor.errors import AuditInputError, AuditorError

MAX_YAML_BYTES = 2 * 1024 * 1024
"""Largest YAML text read (specs and policies are a few kilobytes)."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and sequences."""
MAX_YAML_ALIASES = 200
"""Most ``*alias`` references in one text."""
MAX_YAML_NODES = 200_000
"""Most nodes once every alias is expanded (what a reader of the result would walk)."""

YAML_TOO_LARGE = "{source}: the YAML text is {size:,} bytes; at most {limit:,} are read"
YAML_TOO_DEEP = "{source}: line {line}: YAML nested deeper than {limit} levels"
YAML_TOO_MANY_ALIASES = "{source}: line {line}: more than {limit} YAML aliases (*name)"
YAML_TOO_MANY_NODES = (
    "{source}: YAML anchors and aliases expand to more than {limit:,} values; "
    "write the values out instead"
)
YAML_RECURSIVE = "{source}: line {line}: a YAML alias refers to the value that contains it"


class _LimitExceeded(Exception):
    """Raised inside the composer; turned into the caller's error type by :func:`load_yaml`."""


def _limited(loader: type[yaml.SafeLoader], source: str) -> type[yaml.SafeLoader]:
    class Limited(loader):  # type: ignore[valid-type,misc]
        _depth = 0
        _aliases = 0

        def compose_node(self, parent: Node | None, index: Any) -> Node | None:
            line = self.peek_event().start_mark.line + 1
            if self.check_event(AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_YAML_ALIASES:
                    raise _LimitExceeded(
                        YAML_TOO_MANY_ALIASES.format(
                            source=source, line=line, limit=MAX_YAML_ALIASES
                        )
                    )
            self._depth += 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    raise _LimitExceeded(
                        YAML_TOO_DEEP.format(source=source, line=line, limit=MAX_YAML_DEPTH)
                    )
                return super().compose_node(parent, index)  # type: ignore[no-any-return]
            finally:
                self._depth -= 1

    return Limited


def _expanded_size(root: Node, source: str) -> int:
    """Nodes a reader would visit with every alias expanded; refuses cycles."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _LimitExceeded(
                YAML_RECURSIVE.format(source=source, line=node.start_mark.line + 1)
            )
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        if total > MAX_YAML_NODES:
            raise _LimitExceeded(YAML_TOO_MANY_NODES.format(source=source, limit=MAX_YAML_NODES))
        sizes[key] = total
        return total

    return size(root)


def load_yaml(
    text: str,
    *,
    source: str,
    loader: type[yaml.SafeLoader] = yaml.SafeLoader,
    error: type[AuditorError] = AuditInputError,
) -> Any:
    """Parse one YAML document within the limits above; ``source`` names it in messages.

    A limit breached raises ``error`` (the caller's type: SpecError, PolicyError,
    ...); a syntax error propagates as ``yaml.YAMLError`` for the caller to
    word with its line and column. ``loader`` must be ``yaml.SafeLoader`` or a
    subclass (the spec's YAML 1.2 booleans, duplicate-key checks).
    """
    size = len(text.encode("utf-8"))
    if size > MAX_YAML_BYTES:
        raise error(YAML_TOO_LARGE.format(source=source, size=size, limit=MAX_YAML_BYTES))
    instance = _limited(loader, source)(text)
    try:
        node = instance.get_single_node()
        if node is None:
            return None
        _expanded_size(node, source)
        return instance.construct_document(node)
    except _LimitExceeded as exc:
        raise error(str(exc)) from None
    finally:
        instance.dispose()


JSON_TOO_DEEP = "{source}: JSON nested deeper than {limit} levels"


def _json_depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def load_json(text: str, *, source: str, error: type[AuditorError] = AuditInputError) -> Any:
    """``json.loads`` within the size and depth limits of :func:`load_yaml`.

    A syntax error propagates as ``json.JSONDecodeError`` for the caller to place;
    a text nested too deeply for the parser (RecursionError) is a limit, not a bug.
    """
    import json

    size = len(text.encode("utf-8"))
    if size > MAX_YAML_BYTES:
        raise error(YAML_TOO_LARGE.format(source=source, size=size, limit=MAX_YAML_BYTES))
    try:
        value = json.loads(text)
    except RecursionError:
        raise error(JSON_TOO_DEEP.format(source=source, limit=MAX_YAML_DEPTH)) from None
    if not _json_depth_ok(value, MAX_YAML_DEPTH):
        raise error(JSON_TOO_DEEP.format(source=source, limit=MAX_YAML_DEPTH))
    return value
