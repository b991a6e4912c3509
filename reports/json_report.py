"""report.json: the report model itself, written deterministically."""

from __future__ import annotations

from pathlib import Path

from reports.model import Report


def write_json(report: Report, out_dir: Path) -> Path:
    path = out_dir / "report.json"
    path.write_text(report.to_json(), encoding="utf-8")
    return path
