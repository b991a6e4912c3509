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
    "compare_reports": "auditor.judge.compare",
    "AuditInputError": "auditor.errors",
    "AuditorError": "auditor.errors",
    "DataError": "auditor.errors",
    "ModelError": "auditor.errors",
    "OutputError": "auditor.errors",
    "PolicyError": "auditor.errors",
    "ReportInputError": "auditor.errors",
    "SpecError": "auditor.errors",
    "demo_spec_path": "auditor.load.examples",
    "SubgroupMetricFrame": "auditor.measure.frame",
    "subgroup_metrics": "auditor.measure.frame",
    "Measurement": "auditor.measure.measurement",
    "measure": "auditor.measure.measurement",
    "METRICS": "auditor.measure.metrics",
    "MetricDef": "auditor.measure.metrics",
    "metric_value": "auditor.measure.metrics",
    "load_policies": "auditor.judge.policy",
    "AuditSpec": "auditor.load.spec",
    "load_spec": "auditor.load.spec_loader",
    "validate_spec": "auditor.load.spec_loader",
    "ScoreTable": "auditor.reduce.stats",
    "SubgroupStats": "auditor.reduce.stats",
    "reduce_frame": "auditor.reduce.stats",
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
    from auditor.judge.compare import compare_reports
    from auditor.judge.policy import load_policies
    from auditor.load.examples import demo_spec_path
    from auditor.load.spec import AuditSpec
    from auditor.load.spec_loader import load_spec, validate_spec
    from auditor.measure.frame import SubgroupMetricFrame, subgroup_metrics
    from auditor.measure.measurement import Measurement, measure
    from auditor.measure.metrics import METRICS, MetricDef, metric_value
    from auditor.reduce.stats import ScoreTable, SubgroupStats, reduce_frame
