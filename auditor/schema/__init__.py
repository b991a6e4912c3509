"""JSON Schemas shipped with the package (the audit spec's public contract)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPEC_SCHEMA_PATH = Path(__file__).with_name("spec.schema.json")


@cache
def spec_schema() -> dict[str, Any]:
    """The audit spec's Draft 2020-12 JSON Schema, parsed once."""
    schema: dict[str, Any] = json.loads(SPEC_SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema
