"""Where the bundled example lives, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

EXAMPLE_DIR = Path(__file__).parent.parent / "example_data"


def demo_spec_path() -> Path:
    """The spec of the bundled hospital-admission example (shipped inside the package)."""
    return EXAMPLE_DIR / "spec.yaml"
