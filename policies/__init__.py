"""The shipped policy packs and the policy JSON Schema, as package data.

Packs are found with :mod:`importlib.resources`, so they are read the same way
from a source checkout, an installed wheel or a zipped package; nothing here
assumes a file system path. Loading, validating and judging live in
``auditor.judge.policy`` and ``auditor.judge.engine``: this package only holds the data.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

PACK_SUFFIX = ".yaml"
SCHEMA_NAME = "policy.schema.json"

__all__ = ["PACK_SUFFIX", "pack_names", "pack_resource", "schema", "schema_resource"]


def _root() -> Traversable:
    return files(__name__)


def pack_names() -> list[str]:
    """Names of the shipped packs (file names without ``.yaml``), sorted."""
    return sorted(
        entry.name[: -len(PACK_SUFFIX)]
        for entry in _root().iterdir()
        if entry.is_file() and entry.name.endswith(PACK_SUFFIX)
    )


def pack_resource(name: str) -> Traversable | None:
    """The pack's file as a resource, or ``None`` when no pack has that name."""
    if name not in pack_names():
        return None
    return _root().joinpath(name + PACK_SUFFIX)


def schema_resource() -> Traversable:
    """The policy JSON Schema file (Draft 2020-12)."""
    return _root().joinpath("schema", SCHEMA_NAME)


@cache
def schema() -> dict[str, Any]:
    """The parsed policy JSON Schema; the single definition of the policy language."""
    loaded: dict[str, Any] = json.loads(schema_resource().read_text(encoding="utf-8"))
    return loaded
