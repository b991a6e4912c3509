"""The dashboard's upload form writes an ordinary spec; trust comes from what the user typed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import joblib
import pytest
import skops.io as sio

from auditor.dashboard.inputs import upload_spec_text
from auditor.errors import ModelError
from auditor.load.scorers import load_scorer
from auditor.load.spec_loader import load_spec


def _spec(example_dir: Path, model: Path, **trust: object) -> Path:
    text = upload_spec_text(
        name="uploaded",
        data=example_dir / "audit_cohort.csv",
        label_column="hospitalized",
        positive="1",
        sensitive=["race", "sex"],
        score_column=None,
        model=model,
        threshold=0.2,
        policy="clinical-default",
        **trust,  # type: ignore[arg-type]
    )
    path = example_dir / "uploaded.yaml"
    path.write_text(text)
    return path


def test_pinned_pickle_upload_loads_and_unpinned_is_refused(example_dir: Path) -> None:
    pickled = example_dir / "model.pkl"
    joblib.dump(sio.load(example_dir / "model.skops"), pickled)
    digest = hashlib.sha256(pickled.read_bytes()).hexdigest()
    spec = load_spec(_spec(example_dir, pickled, sha256=f"  {digest.upper()} "))
    assert spec.model.sha256 == digest
    assert load_scorer(spec).kind == "pickle"
    with pytest.raises(ModelError, match="must pin their SHA-256"):
        load_scorer(load_spec(_spec(example_dir, pickled)))


def test_trusted_types_typed_by_the_user_reach_the_spec(example_dir: Path) -> None:
    spec = load_spec(_spec(example_dir, example_dir / "model.skops", trusted_types=["a.B"]))
    assert spec.model.trusted_types == ("a.B",)
