"""Stage 5, render: one typed report model, rendered to JSON, HTML, PDF, Markdown and JUnit.

``render(report, out_dir, formats)`` is the entry point; :class:`Report` is its only
input. Renderers format what the report holds and compute nothing. ``Report`` is
imported on first use, so ``python -m reports.model`` (which regenerates the schema)
runs that module only once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reports.render import FILE_NAMES, FORMATS, render

_LAZY: dict[str, str] = {"Report": "reports.model", "SCHEMA_VERSION": "reports.model"}

__all__ = ["FILE_NAMES", "FORMATS", "SCHEMA_VERSION", "Report", "render"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reports' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from reports.model import SCHEMA_VERSION, Report
