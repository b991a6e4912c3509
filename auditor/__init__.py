"""Clinical fairness auditor: subgroup performance, fairness and governance audits.

The public library API is the curated ``__all__`` below. Names are imported on
first use (an explicit table, mirrored for type checkers), so ``auditor --help``
and a notebook's ``import auditor`` stay fast and SHAP loads only when needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC: dict[str, str] = {
    "AuditResult": "auditor.audit",
    "Prepared": "auditor.audit",
    "build_report": "auditor.audit",
    "load_report": "auditor.audit",
    "prepare": "auditor.audit",
    "rejudge": "auditor.audit",
    "run_audit": "auditor.audit",
    "compare_reports": "auditor.compare",
    "AuditInputError": "auditor.errors",
    "AuditorError": "auditor.errors",
    "DataError": "auditor.errors",
    "ModelError": "auditor.errors",
    "OutputError": "auditor.errors",
    "PolicyError": "auditor.errors",
    "ReportInputError": "auditor.errors",
    "SpecError": "auditor.errors",
    "demo_spec_path": "auditor.examples",
    "SubgroupMetricFrame": "auditor.frame",
    "subgroup_metrics": "auditor.frame",
    "Measurement": "auditor.measure",
    "measure": "auditor.measure",
    "METRICS": "auditor.metrics",
    "MetricDef": "auditor.metrics",
    "metric_value": "auditor.metrics",
    "load_policies": "auditor.policy",
    "AuditSpec": "auditor.spec",
    "load_spec": "auditor.spec_loader",
    "validate_spec": "auditor.spec_loader",
    "ScoreTable": "auditor.stats",
    "SubgroupStats": "auditor.stats",
    "reduce_frame": "auditor.stats",
}

__all__ = [
    "METRICS",
    "AuditInputError",
    "AuditResult",
    "AuditSpec",
    "AuditorError",
    "DataError",
    "Measurement",
    "MetricDef",
    "ModelError",
    "OutputError",
    "PolicyError",
    "Prepared",
    "ReportInputError",
    "ScoreTable",
    "SpecError",
    "SubgroupMetricFrame",
    "SubgroupStats",
    "__version__",
    "build_report",
    "compare_reports",
    "demo_spec_path",
    "load_policies",
    "load_report",
    "load_spec",
    "measure",
    "metric_value",
    "prepare",
    "reduce_frame",
    "rejudge",
    "run_audit",
    "subgroup_metrics",
    "validate_spec",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'auditor' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from auditor.audit import (
        AuditResult,
        Prepared,
        build_report,
        load_report,
        prepare,
        rejudge,
        run_audit,
    )
    from auditor.compare import compare_reports
    from auditor.errors import (
        AuditInputError,
        AuditorError,
        DataError,
        ModelError,
        OutputError,
        PolicyError,
        ReportInputError,
        SpecError,
    )
    from auditor.examples import demo_spec_path
    from auditor.frame import SubgroupMetricFrame, subgroup_metrics
    from auditor.measure import Measurement, measure
    from auditor.metrics import METRICS, MetricDef, metric_value
    from auditor.policy import load_policies
    from auditor.spec import AuditSpec
    from auditor.spec_loader import load_spec, validate_spec
    from auditor.stats import ScoreTable, SubgroupStats, reduce_frame
