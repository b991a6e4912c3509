"""The audit registry: audits across releases, sign-off, and a tamper-evident log.

``Registry(url)`` opens (and migrates) a SQLite file by default or PostgreSQL by
URL; see ``docs/registry.md``.
"""

from auditor.registry.db import ENV_REGISTRY, default_registry_path, resolve_url
from auditor.registry.records import (
    AuditEntry,
    GroupMetrics,
    HistoryRow,
    MetricValue,
    SignoffEntry,
    VerifyResult,
)
from auditor.registry.report_facts import KEY_METRICS, key_metrics, parse_report_json
from auditor.registry.service import Registry

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
