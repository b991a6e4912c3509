"""Shared fixtures: the bundled example, copied so no test touches the shipped files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from auditor.load.examples import EXAMPLE_DIR

ROOT = Path(__file__).resolve().parents[1]
TEST_BOOTSTRAP = 200


@pytest.fixture()
def example_dir(tmp_path: Path) -> Path:
    """A private copy of the bundled example (spec, data, model, model card)."""
    target = tmp_path / "example"
    shutil.copytree(EXAMPLE_DIR, target)
    return target


def write_spec(folder: Path, name: str = "spec.yaml", **changes: object) -> Path:
    """Copy the example spec with some keys changed (``None`` removes a key)."""
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture()
def fast_spec(example_dir: Path) -> Path:
    """The example spec with fewer bootstrap replicates, to keep tests quick."""
    return write_spec(example_dir, "fast.yaml", bootstrap=TEST_BOOTSTRAP)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Exhaustive variants (minutes each) run only when asked: their reduced forms run always."""
    if os.environ.get("AUDITOR_EXHAUSTIVE") == "1":
        return
    skip = pytest.mark.skip(reason="exhaustive variant: set AUDITOR_EXHAUSTIVE=1 to run it")
    for item in items:
        if item.get_closest_marker("exhaustive") is not None:
            item.add_marker(skip)
