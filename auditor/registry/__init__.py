"""The audit registry: audits across releases, sign-off, and a tamper-evident log.

``Registry(url)`` opens (and migrates) a SQLite file by default or PostgreSQL by
URL; see ``docs/registry.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditor.registry.db import ENV_REGISTRY, default_registry_path, resolve_url
    from auditor.registry.names import KEY_METRICS
    from auditor.registry.records import (
        AuditEntry,
        GroupMetrics,
        HistoryRow,
        MetricValue,
        SignoffEntry,
        VerifyResult,
    )
    from auditor.registry.report_facts import key_metrics, parse_report_json
    from auditor.registry.service import Registry

# Imported on first use: the CLI builds the registry's parsers without SQLAlchemy.
_HOMES = {
    "ENV_REGISTRY": "auditor.registry.names",
    "KEY_METRICS": "auditor.registry.names",
    "default_registry_path": "auditor.registry.names",
    "resolve_url": "auditor.registry.db",
    "AuditEntry": "auditor.registry.records",
    "GroupMetrics": "auditor.registry.records",
    "HistoryRow": "auditor.registry.records",
    "MetricValue": "auditor.registry.records",
    "SignoffEntry": "auditor.registry.records",
    "VerifyResult": "auditor.registry.records",
    "key_metrics": "auditor.registry.report_facts",
    "parse_report_json": "auditor.registry.report_facts",
    "Registry": "auditor.registry.service",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'auditor.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "ENV_REGISTRY",
    "KEY_METRICS",
    "AuditEntry",
    "GroupMetrics",
    "HistoryRow",
    "MetricValue",
    "Registry",
    "SignoffEntry",
    "VerifyResult",
    "default_registry_path",
    "key_metrics",
    "parse_report_json",
    "resolve_url",
]
