"""Where the bundled example lives, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

EXAMPLE_DIR = Path(__file__).parent.parent / "example_data"


def demo_spec_path(task: str = "binary") -> Path:
    """The spec of a bundled example (shipped inside the package): the hospital-admission
    model for ``binary``, one example per other task in ``example_data/<task>/``."""
    if task == "binary":
        return EXAMPLE_DIR / "spec.yaml"
    return EXAMPLE_DIR / task / "spec.yaml"
