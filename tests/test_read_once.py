"""Read once, hash what you load: a file swapped between the hash and the load changes nothing.

Each test installs a hook that runs right after an input's bytes were hashed and
swaps the file on disk for another one. The loader must still load the bytes that
were hashed (the spec's pinned hash then vouches for what actually ran), and the
provenance must name the hash of what was audited.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from hostile_models import ConstantModel

from auditor import audit
from auditor.audit import prepare, read_report
from auditor.errors import ModelError
from auditor.load import data, hashing, scorers, spec_loader
from auditor.load.hashing import UnsafeTreeError, copy_tree_hashed, sha256_path
from auditor.load.scorers import estimator_runtimes, load_scorer
from auditor.load.spec_loader import load_spec
from tests.load_helpers import FEATURES, fit_pipeline, make_cohort, write_cohort, write_spec


def _trap(marker: Path) -> bytes:
    """A pickle that creates ``marker`` when unpickled (what an attacker would swap in)."""

    class Trap:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.makedirs, (str(marker),))

    return pickle.dumps(Trap())


def _swap_after_hash(
    monkeypatch: pytest.MonkeyPatch, module: Any, path: Path, replacement: bytes
) -> list[str]:
    """Make ``module.sha256_bytes`` swap ``path`` for ``replacement`` right after hashing."""
    original = hashing.sha256_bytes
    swapped: list[str] = []

    def hash_then_swap(content: bytes) -> str:
        digest = original(content)
        if not swapped:
            path.write_bytes(replacement)
            swapped.append(digest)
        return digest

    monkeypatch.setattr(module, "sha256_bytes", hash_then_swap)
    return swapped


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    write_cohort(tmp_path, make_cohort(120))
    return tmp_path


def test_a_pinned_pickle_swapped_after_its_hash_never_runs(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    benign = pickle.dumps(ConstantModel(0.3))
    (folder / "model.pkl").write_bytes(benign)
    pinned = hashlib.sha256(benign).hexdigest()
    marker = folder / "attacker-code-ran"
    spec = load_spec(write_spec(folder, model={"path": "model.pkl", "sha256": pinned}))
    for _ in range(20):  # the old reopen lost this race a few times in a thousand
        (folder / "model.pkl").write_bytes(benign)
        swapped = _swap_after_hash(monkeypatch, scorers, folder / "model.pkl", _trap(marker))
        scorer = load_scorer(spec)
        assert swapped == [pinned]
        assert (folder / "model.pkl").read_bytes() != benign  # the swap did happen
        assert not marker.exists()
        assert scorer.sha256 == pinned  # type: ignore[attr-defined]
        frame = pd.read_csv(spec.data)
        np.testing.assert_array_equal(scorer.scores(frame), np.full(len(frame), 0.3))


def test_a_skops_and_an_onnx_file_load_from_the_hashed_bytes(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort = pd.read_csv(folder / "cohort.csv")
    good = fit_pipeline(cohort)
    other = fit_pipeline(cohort.assign(died=1 - cohort["died"]))
    sio.dump(good, folder / "model.skops")
    good_bytes = (folder / "model.skops").read_bytes()
    sio.dump(other, folder / "other.skops")
    spec = load_spec(write_spec(folder, model={"path": "model.skops"}, features=list(FEATURES)))
    _swap_after_hash(
        monkeypatch, scorers, folder / "model.skops", (folder / "other.skops").read_bytes()
    )
    scorer = load_scorer(spec)
    assert scorer.sha256 == hashlib.sha256(good_bytes).hexdigest()  # type: ignore[attr-defined]
    np.testing.assert_allclose(
        scorer.scores(cohort), good.predict_proba(cohort[list(FEATURES)])[:, 1]
    )

    pytest.importorskip("onnxruntime")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    numeric = ["age", "lactate"]
    fit = {
        "a": LogisticRegression().fit(cohort[numeric], cohort["died"]),
        "b": LogisticRegression().fit(cohort[numeric], 1 - cohort["died"]),
    }
    blobs = {
        n: convert_sklearn(
            m,
            initial_types=[("X", FloatTensorType([None, len(numeric)]))],
            options={id(m): {"zipmap": False}},
            target_opset=18,
        ).SerializeToString()
        for n, m in fit.items()
    }
    (folder / "model.onnx").write_bytes(blobs["a"])
    spec = load_spec(write_spec(folder, model={"path": "model.onnx"}, features=numeric))
    _swap_after_hash(monkeypatch, scorers, folder / "model.onnx", blobs["b"])
    scorer = load_scorer(spec)
    assert scorer.sha256 == hashlib.sha256(blobs["a"]).hexdigest()  # type: ignore[attr-defined]
    np.testing.assert_allclose(
        scorer.scores(cohort), fit["a"].predict_proba(cohort[numeric])[:, 1], atol=1e-6
    )
    assert scorer.runtime == {"onnxruntime": __import__("onnxruntime").__version__}


def test_the_data_hash_is_of_the_rows_audited(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = (folder / "cohort.csv").read_bytes()
    other = make_cohort(120, seed=7)
    spec = load_spec(write_spec(folder))
    swapped = _swap_after_hash(
        monkeypatch, data, folder / "cohort.csv", other.to_csv(index=False).encode()
    )
    prepared = prepare(spec)
    assert prepared.hashes["data"] == hashlib.sha256(original).hexdigest() == swapped[0]
    pd.testing.assert_frame_equal(prepared.data.frame, make_cohort(120))


def test_the_spec_and_baseline_hashes_are_of_the_bytes_parsed(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_spec(folder)
    original = path.read_bytes()
    _swap_after_hash(monkeypatch, spec_loader, path, original.replace(b"Test audit", b"Other"))
    spec = load_spec(path)
    assert (spec.name, spec.source_sha256) == ("Test audit", hashlib.sha256(original).hexdigest())

    report = audit.run_audit(load_spec(write_spec(folder, bootstrap=0))).report
    (folder / "report.json").write_text(report.to_json())
    first = (folder / "report.json").read_bytes()
    forged = json.loads(first)
    forged["name"] = "forged"
    _swap_after_hash(monkeypatch, audit, folder / "report.json", json.dumps(forged).encode())
    loaded, digest = read_report(folder / "report.json")
    assert (loaded.name, digest) == ("Test audit", hashlib.sha256(first).hexdigest())


def _mlflow_folder(folder: Path, model: Any) -> Path:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    target = folder / "mlflow-model"
    mlflow_sklearn.save_model(
        model, target, serialization_format="cloudpickle", pip_requirements=[]
    )
    return target


def test_an_mlflow_folder_is_loaded_from_the_private_copy_that_was_hashed(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort = pd.read_csv(folder / "cohort.csv")
    pipeline = fit_pipeline(cohort)
    target = _mlflow_folder(folder, pipeline)
    pinned = sha256_path(target)
    marker = folder / "attacker-code-ran"
    spec = load_spec(
        write_spec(
            folder, model={"path": "mlflow-model", "sha256": pinned}, features=list(FEATURES)
        )
    )
    original = copy_tree_hashed

    def copy_then_swap(source: Path, copy: Path, *, file: str | None = None) -> str:
        digest = original(source, copy, file=file)
        (source / "model.pkl").write_bytes(_trap(marker))  # swapped after hashing
        return digest

    monkeypatch.setattr(scorers, "copy_tree_hashed", copy_then_swap)
    scorer = load_scorer(spec)
    assert not marker.exists()
    assert scorer.sha256 == pinned  # type: ignore[attr-defined]
    np.testing.assert_allclose(
        scorer.scores(cohort), pipeline.predict_proba(cohort[list(FEATURES)])[:, 1]
    )
    assert set(scorer.runtime) == {"mlflow"}


def test_code_behind_a_symlink_in_a_model_folder_is_refused(folder: Path) -> None:
    target = _mlflow_folder(folder, fit_pipeline(pd.read_csv(folder / "cohort.csv")))
    (folder / "outside").mkdir()
    (folder / "outside" / "helper.py").write_text("x = 1\n")
    (target / "code").symlink_to(folder / "outside", target_is_directory=True)
    with pytest.raises(UnsafeTreeError, match="symbolic link"):
        sha256_path(target)
    spec = load_spec(write_spec(folder, model={"path": "mlflow-model", "sha256": "0" * 64}))
    with pytest.raises(ModelError) as caught:
        load_scorer(spec)
    assert str(caught.value) == hashing.TREE_LINK.format(file=target, entry="code")


def test_boosting_runtimes_are_named_in_provenance(folder: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    xgboost = pytest.importorskip("xgboost")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert estimator_runtimes(make_pipeline(StandardScaler(), lightgbm.LGBMClassifier())) == {
        "lightgbm": lightgbm.__version__
    }
    cohort = pd.read_csv(folder / "cohort.csv")
    model = xgboost.XGBClassifier(n_estimators=5).fit(cohort[["age", "lactate"]], cohort["died"])
    content = pickle.dumps(model)
    (folder / "model.pkl").write_bytes(content)
    pinned = hashlib.sha256(content).hexdigest()
    spec = load_spec(
        write_spec(
            folder,
            model={"path": "model.pkl", "sha256": pinned},
            features=["age", "lactate"],
            bootstrap=0,
        )
    )
    report = audit.run_audit(spec).report
    assert report.provenance.runtimes == {"xgboost": xgboost.__version__}
    assert report.provenance.sha256["model"] == pinned
    catboost = pytest.importorskip("catboost")
    assert estimator_runtimes(catboost.CatBoostClassifier()) == {"catboost": catboost.__version__}


def test_a_score_column_has_no_runtime(folder: Path) -> None:
    report = audit.run_audit(load_spec(write_spec(folder, bootstrap=0))).report
    assert report.provenance.runtimes == {}


def test_copy_tree_hash_equals_the_folder_hash(tmp_path: Path) -> None:
    source = tmp_path / "m"
    (source / "a" / "b").mkdir(parents=True)
    (source / "MLmodel").write_text("x")
    (source / "a" / "b" / "c.bin").write_bytes(b"\0\1")
    copy = tmp_path / "copy"
    copy.mkdir()
    assert copy_tree_hashed(source, copy) == sha256_path(source) == sha256_path(copy)
    shutil.rmtree(copy)
