"""Names the registry's command line needs before any database code is imported.

``auditor --help`` builds every subcommand's parser; keeping these constants here
(SQLAlchemy, Alembic and the report model are imported only when a registry
command runs) keeps the CLI's start-up fast.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_REGISTRY = "AUDITOR_REGISTRY"
"""Environment variable naming the registry (a database URL or a SQLite file path)."""
APP_DIR_NAME = "clinical-fairness-auditor"
DEFAULT_FILE_NAME = "registry.db"
KEY_METRICS = ("auroc", "sensitivity", "calibration_slope")
"""Metrics ``history`` shows per group unless told otherwise."""
DECISIONS = ("approve", "reject")
"""Sign-off decisions."""


def default_registry_path() -> Path:
    """``$XDG_DATA_HOME/clinical-fairness-auditor/registry.db`` (``~/.local/share`` if unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_DIR_NAME / DEFAULT_FILE_NAME
