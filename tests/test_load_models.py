"""Load stage: every model format behind the Scorer protocol, and every way trust can fail.

Model files are made here, in tmp folders, from a small fitted scikit-learn
Pipeline; each format's scores must equal the Pipeline's own predict_proba.
"""

from __future__ import annotations

import importlib.util
import operator
import os
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from auditor.errors import ModelError
from auditor.load.examples import EXAMPLE_DIR
from auditor.load.hashing import sha256_bytes, sha256_path
from auditor.load.scorers import (
    EstimatorScorer,
    ScoreColumnScorer,
    Scorer,
    load_scorer,
)
from auditor.load.spec import AuditSpec
from auditor.load.spec_loader import load_spec
from tests.load_helpers import FEATURES, fit_pipeline, make_cohort, write_cohort, write_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return make_cohort(300)


@pytest.fixture(scope="module")
def pipeline(cohort: pd.DataFrame) -> Any:
    return fit_pipeline(cohort)


@pytest.fixture(scope="module")
def expected(cohort: pd.DataFrame, pipeline: Any) -> np.ndarray:
    return pipeline.predict_proba(cohort[list(FEATURES)])[:, 1]


@pytest.fixture()
def folder(tmp_path: Path, cohort: pd.DataFrame) -> Path:
    write_cohort(tmp_path, cohort)
    return tmp_path


def spec_for(folder: Path, **model: Any) -> AuditSpec:
    return load_spec(write_spec(folder, model=model, features=list(FEATURES)))


def model_error(spec: AuditSpec) -> str:
    with pytest.raises(ModelError) as caught:
        load_scorer(spec).scores(pd.read_csv(spec.data))
    return str(caught.value)


# --- formats that load ------------------------------------------------------------------


def test_skops(folder: Path, pipeline: Any, cohort: pd.DataFrame, expected: np.ndarray) -> None:
    sio.dump(pipeline, folder / "model.skops")
    scorer = load_scorer(spec_for(folder, path="model.skops"))
    assert isinstance(scorer, Scorer)
    assert scorer.kind == "skops"
    assert scorer.estimator is not None
    np.testing.assert_array_equal(scorer.scores(cohort), expected)


@pytest.mark.parametrize("name", ["model.pkl", "model.joblib"])
def test_pinned_pickle_and_joblib(
    folder: Path, pipeline: Any, cohort: pd.DataFrame, expected: np.ndarray, name: str
) -> None:
    path = folder / name
    if name.endswith(".pkl"):
        path.write_bytes(pickle.dumps(pipeline))
    else:
        joblib.dump(pipeline, path)
    scorer = load_scorer(spec_for(folder, path=name, sha256=sha256_path(path).upper()))
    assert scorer.kind == "pickle"
    np.testing.assert_array_equal(scorer.scores(cohort), expected)


def _to_onnx(pipeline: Any, path: Path, *, zipmap: bool = False) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [
        ("age", FloatTensorType([None, 1])),
        ("lactate", FloatTensorType([None, 1])),
        ("unit", StringTensorType([None, 1])),
    ]
    options = {id(pipeline): {"zipmap": zipmap}}
    model = convert_sklearn(pipeline, initial_types=inputs, options=options, target_opset=18)
    path.write_bytes(model.SerializeToString())


@pytest.mark.parametrize("zipmap", [False, True])
def test_onnx_matches_scikit_learn(
    folder: Path, pipeline: Any, cohort: pd.DataFrame, expected: np.ndarray, zipmap: bool
) -> None:
    pytest.importorskip("onnxruntime")
    _to_onnx(pipeline, folder / "model.onnx", zipmap=zipmap)
    scorer = load_scorer(spec_for(folder, path="model.onnx"))
    assert (scorer.kind, scorer.estimator) == ("onnx", None)
    np.testing.assert_allclose(scorer.scores(cohort), expected, atol=1e-6, rtol=0)


def test_mlflow_skops_folder_trusts_only_the_spec(
    folder: Path, pipeline: Any, cohort: pd.DataFrame, expected: np.ndarray
) -> None:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    mlflow_sklearn.save_model(
        pipeline, folder / "mlflow-model", serialization_format="skops", pip_requirements=[]
    )
    scorer = load_scorer(spec_for(folder, path="mlflow-model"))
    assert scorer.kind == "mlflow"
    assert scorer.estimator is not None
    np.testing.assert_array_equal(scorer.scores(cohort), expected)


def test_mlflow_trust_list_in_the_audited_folder_is_ignored(
    folder: Path, cohort: pd.DataFrame
) -> None:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    risky = _untrusted_pipeline(cohort)
    mlflow_sklearn.save_model(
        risky,
        folder / "mlflow-model",
        serialization_format="skops",
        skops_trusted_types=["_operator.neg"],  # written into the folder's own MLmodel
        pip_requirements=[],
    )
    inner = folder / "mlflow-model" / "model.skops"

    def spec(**model: Any) -> AuditSpec:
        return load_spec(write_spec(folder, model=model, features=["age", "lactate"]))

    assert model_error(spec(path="mlflow-model")) == (
        f"{inner}: the skops file contains types that are not trusted: _operator.neg; review "
        "them and, if you trust them, list them under model.trusted_types in the spec"
    )
    scorer = load_scorer(spec(path="mlflow-model", trusted_types=["_operator.neg"]))
    np.testing.assert_array_equal(
        scorer.scores(cohort), risky.predict_proba(cohort[["age", "lactate"]])[:, 1]
    )


def test_mlflow_cloudpickle_folder_needs_a_pinned_hash(
    folder: Path, pipeline: Any, cohort: pd.DataFrame, expected: np.ndarray
) -> None:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    target = folder / "mlflow-model"
    mlflow_sklearn.save_model(
        pipeline, target, serialization_format="cloudpickle", pip_requirements=[]
    )
    digest = sha256_path(target)
    assert model_error(spec_for(folder, path="mlflow-model")) == (
        f"{target}: this MLflow model (sklearn flavor, cloudpickle format) loads by "
        "unpickling or importing code, which can run anything, so the spec must pin the "
        "folder's SHA-256; after checking it comes from a trusted source, add "
        f"model.sha256: {digest}"
    )
    before = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    scorer = load_scorer(spec_for(folder, path="mlflow-model", sha256=digest))
    assert os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION") == before
    assert scorer.kind == "mlflow"
    np.testing.assert_array_equal(scorer.scores(cohort), expected)


class ProbabilityModel:
    """A custom MLflow pyfunc model returning P(positive) from a wrapped estimator."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self.estimator.predict_proba(model_input[list(FEATURES)])[:, 1]


def test_mlflow_custom_pyfunc_folder(
    folder: Path, pipeline: Any, cohort: pd.DataFrame, expected: np.ndarray
) -> None:
    mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc")

    class Wrapped(ProbabilityModel, mlflow_pyfunc.PythonModel):  # type: ignore[misc]
        pass

    target = folder / "pyfunc-model"
    mlflow_pyfunc.save_model(target, python_model=Wrapped(pipeline), pip_requirements=[])
    scorer = load_scorer(spec_for(folder, path="pyfunc-model", sha256=sha256_path(target)))
    assert (scorer.kind, scorer.estimator) == ("mlflow", None)
    np.testing.assert_allclose(scorer.scores(cohort), expected, atol=1e-12, rtol=0)


def test_estimator_for_library_users(
    pipeline: Any, cohort: pd.DataFrame, expected: np.ndarray
) -> None:
    scorer = EstimatorScorer(pipeline, FEATURES)
    assert (scorer.kind, scorer.estimator) == ("estimator", pipeline)
    np.testing.assert_array_equal(scorer.scores(cohort), expected)
    # without a feature list the estimator's own feature_names_in_ select the columns
    np.testing.assert_array_equal(EstimatorScorer(pipeline).scores(cohort), expected)


def test_positive_class_is_found_through_classes(cohort: pd.DataFrame) -> None:
    labels = np.where(cohort["died"] == 1, "yes", "no")
    model = LogisticRegression().fit(cohort[["age", "lactate"]], labels)
    assert list(model.classes_) == ["no", "yes"]
    yes = EstimatorScorer(model, ["age", "lactate"], positive="yes").scores(cohort)
    no = EstimatorScorer(model, ["age", "lactate"], positive="no").scores(cohort)
    np.testing.assert_allclose(yes + no, 1.0)
    np.testing.assert_array_equal(yes, model.predict_proba(cohort[["age", "lactate"]])[:, 1])
    with pytest.raises(ModelError) as caught:
        EstimatorScorer(model, ["age", "lactate"], positive="died")
    assert str(caught.value) == (
        "LogisticRegression: the model's classes ('no', 'yes') do not include the positive "
        "label 'died'; expected a binary classifier trained on this label"
    )


def test_score_column(folder: Path, cohort: pd.DataFrame) -> None:
    scorer = load_scorer(load_spec(write_spec(folder)))
    assert isinstance(scorer, ScoreColumnScorer)
    assert (scorer.kind, scorer.estimator) == ("score_column", None)
    np.testing.assert_array_equal(scorer.scores(cohort), cohort["risk"].to_numpy())


# --- bad scores -------------------------------------------------------------------------


def test_nan_or_out_of_range_score_column(folder: Path, cohort: pd.DataFrame) -> None:
    bad = cohort.copy()
    bad.loc[[1, 4], "risk"] = np.nan
    bad.loc[[6], "risk"] = 1.2
    bad.loc[[8], "risk"] = -0.1
    data = write_cohort(folder, bad)
    assert model_error(load_spec(write_spec(folder))) == (
        f"{data}: score column 'risk': 4 score(s) are NaN or outside [0, 1] (rows 2, 5, 7, 9); "
        "expected probabilities of the positive class"
    )


def test_non_numeric_score_column(folder: Path, cohort: pd.DataFrame) -> None:
    data = write_cohort(folder, cohort.assign(risk="high"))
    assert model_error(load_spec(write_spec(folder))) == (
        f"{data}: score column 'risk' is not numeric (str); expected probabilities of the "
        "positive class"
    )


class _BrokenModel:
    """A classifier whose probabilities are NaN or above 1 for some rows."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = np.full(len(frame), 0.3)
        p[[0, 2]] = np.nan
        p[5] = 1.5
        return np.column_stack([1 - p, p])


def test_nan_or_out_of_range_model_output(cohort: pd.DataFrame) -> None:
    with pytest.raises(ModelError) as caught:
        EstimatorScorer(_BrokenModel(), FEATURES).scores(cohort)
    assert str(caught.value) == (
        "_BrokenModel: 3 score(s) are NaN or outside [0, 1] (rows 1, 3, 6); "
        "expected probabilities of the positive class"
    )


def test_model_without_predict_proba() -> None:
    with pytest.raises(ModelError) as caught:
        EstimatorScorer(LinearRegression())
    assert str(caught.value) == (
        "LinearRegression: the model (LinearRegression) has no predict_proba; expected a fitted "
        "probabilistic classifier"
    )


# --- trust and files --------------------------------------------------------------------


def test_missing_model_file(folder: Path) -> None:
    spec = spec_for(folder, path="model.skops")
    assert model_error(spec) == (
        f"{folder / 'model.skops'}: model file not found (named by $.model.path in "
        f"{folder / 'spec.yaml'})"
    )


def test_unsupported_model_format(folder: Path) -> None:
    (folder / "model.h5").write_bytes(b"\x89HDF")
    assert model_error(spec_for(folder, path="model.h5")) == (
        f"{folder / 'model.h5'}: unsupported model format '.h5'; expected .skops, .onnx, "
        ".pkl/.pickle/.joblib, or an MLflow model folder"
    )


def _untrusted_pipeline(cohort: pd.DataFrame) -> Any:
    return make_pipeline(FunctionTransformer(operator.neg), LogisticRegression()).fit(
        cohort[["age", "lactate"]], cohort["died"]
    )


def test_skops_with_an_untrusted_type(folder: Path, cohort: pd.DataFrame) -> None:
    risky = _untrusted_pipeline(cohort)
    sio.dump(risky, folder / "model.skops")
    assert model_error(spec_for(folder, path="model.skops")) == (
        f"{folder / 'model.skops'}: the skops file contains types that are not trusted: "
        "_operator.neg; review them and, if you trust them, list them under "
        "model.trusted_types in the spec"
    )
    scorer = load_scorer(
        load_spec(
            write_spec(
                folder,
                model={"path": "model.skops", "trusted_types": ["_operator.neg"]},
                features=["age", "lactate"],
            )
        )
    )
    np.testing.assert_array_equal(
        scorer.scores(cohort), risky.predict_proba(cohort[["age", "lactate"]])[:, 1]
    )


def _booby_trapped_pickle(path: Path, marker: Path) -> None:
    """A pickle that creates ``marker`` when unpickled: proof of when unpickling happens."""

    class Trap:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.makedirs, (str(marker),))

    path.write_bytes(pickle.dumps(Trap()))


def test_pickle_without_sha256(folder: Path) -> None:
    marker = folder / "unpickled"
    _booby_trapped_pickle(folder / "model.pkl", marker)
    digest = sha256_path(folder / "model.pkl")
    assert model_error(spec_for(folder, path="model.pkl")) == (
        f"{folder / 'model.pkl'}: pickle/joblib files can run arbitrary code when loaded, so "
        "the spec must pin their SHA-256; after checking the file comes from a trusted source, "
        f"add model.sha256: {digest}"
    )
    assert not marker.exists()


def test_pickle_whose_hash_differs(folder: Path) -> None:
    marker = folder / "unpickled"
    _booby_trapped_pickle(folder / "model.pkl", marker)
    actual = sha256_path(folder / "model.pkl")
    pinned = sha256_bytes(b"the model that was reviewed")
    assert model_error(spec_for(folder, path="model.pkl", sha256=pinned)) == (
        f"{folder / 'model.pkl'}: SHA-256 mismatch: the spec pins {pinned} (model.sha256) but "
        f"the file has {actual}; refusing to load it"
    )
    assert not marker.exists()
    # Pinning the hash is the trust decision: only then is the file unpickled.
    with pytest.raises(ModelError) as caught:
        load_scorer(spec_for(folder, path="model.pkl", sha256=actual))
    assert marker.exists()
    assert str(caught.value) == (
        f"{folder / 'model.pkl'}: the model (NoneType) has no predict_proba; expected a fitted "
        "probabilistic classifier"
    )


def test_sha256_is_verified_for_any_format(folder: Path, pipeline: Any) -> None:
    sio.dump(pipeline, folder / "model.skops")
    actual = sha256_path(folder / "model.skops")
    pinned = "0" * 64
    assert model_error(spec_for(folder, path="model.skops", sha256=pinned)) == (
        f"{folder / 'model.skops'}: SHA-256 mismatch: the spec pins {pinned} (model.sha256) "
        f"but the file has {actual}; refusing to load it"
    )
    scorer = load_scorer(spec_for(folder, path="model.skops", sha256=actual))
    assert scorer.sha256 == actual  # type: ignore[attr-defined]


def test_onnx_without_a_probability_output(folder: Path, cohort: pd.DataFrame) -> None:
    pytest.importorskip("onnxruntime")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    regressor = LinearRegression().fit(cohort[["age", "lactate"]], cohort["risk"])
    model = convert_sklearn(
        regressor, initial_types=[("age", FloatTensorType([None, 2]))], target_opset=18
    )
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    assert model_error(spec_for(folder, path="model.onnx")) == (
        f"{folder / 'model.onnx'}: the ONNX model has no probability output; its outputs are "
        "variable (tensor(float) [None, 1]); expected an output named like 'probabilities' "
        "(skl2onnx: export classifiers with options={id(model): {'zipmap': False}})"
    )


def test_onnx_without_the_extra_installed(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "model.onnx").write_bytes(b"not needed: the import fails first")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert model_error(spec_for(folder, path="model.onnx")) == (
        f"{folder / 'model.onnx'}: ONNX models need onnxruntime: "
        "pip install 'clinical-fairness-auditor[onnx]'"
    )


def test_mlflow_without_the_extra_installed(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = folder / "pyfunc-model"
    target.mkdir()
    (target / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: my_loader\n")
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.pyfunc", None)
    spec = spec_for(folder, path="pyfunc-model")
    assert model_error(spec) == (
        f"{target}: this MLflow model (loader my_loader) loads by unpickling or importing "
        "code, which can run anything, so the spec must pin the folder's SHA-256; after "
        f"checking it comes from a trusted source, add model.sha256: {sha256_path(target)}"
    )
    pinned = spec_for(folder, path="pyfunc-model", sha256=sha256_path(target))
    assert model_error(pinned) == (
        f"{target}: MLflow models need mlflow: pip install 'clinical-fairness-auditor[mlflow]'"
    )


def test_folder_without_mlmodel(folder: Path) -> None:
    (folder / "saved").mkdir()
    assert model_error(spec_for(folder, path="saved")) == (
        f"{folder / 'saved'}: the folder has no MLmodel file; expected an MLflow model folder"
    )


def test_folder_hash_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    first = tmp_path / "a"
    (first / "sub").mkdir(parents=True)
    (first / "MLmodel").write_text("flavors: {}\n")
    (first / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    second = tmp_path / "elsewhere" / "b"
    shutil.copytree(first, second)
    assert sha256_path(first) == sha256_path(second)
    (second / "sub" / "weights.bin").write_bytes(b"\x00\x02")
    assert sha256_path(first) != sha256_path(second)
    (second / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    (second / "sub" / "weights.bin").rename(second / "sub" / "renamed.bin")
    assert sha256_path(first) != sha256_path(second)


# --- the bundled example ----------------------------------------------------------------


def test_the_example_model_loads_with_the_spec_trust_list() -> None:
    spec = load_spec(EXAMPLE_DIR / "spec.yaml")
    untrusted = sio.get_untrusted_types(file=EXAMPLE_DIR / "model.skops")
    assert set(untrusted) <= set(spec.model.trusted_types)
    scorer = load_scorer(spec)
    scores = scorer.scores(pd.read_csv(spec.data))
    assert scorer.kind == "skops"
    assert scores.shape == (2644,)
    assert scores.min() > 0.0 and scores.max() < 1.0


def test_retraining_the_example_reproduces_its_predictions() -> None:
    source = ROOT / "examples" / "hospital_use"
    if not (source / "train_model.py").is_file():
        pytest.skip("examples/ is not part of an installed package")
    module_spec = importlib.util.spec_from_file_location("train_model", source / "train_model.py")
    assert module_spec is not None and module_spec.loader is not None
    train_model = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(train_model)

    model, audit = train_model.train(pd.read_csv(source / "cohort.csv"))
    shipped_audit = pd.read_csv(EXAMPLE_DIR / "audit_cohort.csv")
    pd.testing.assert_frame_equal(audit, shipped_audit)
    assert (
        audit.to_csv(index=False, lineterminator="\n").encode()
        == (EXAMPLE_DIR / "audit_cohort.csv").read_bytes()
    )
    shipped = load_scorer(load_spec(EXAMPLE_DIR / "spec.yaml"))
    np.testing.assert_array_equal(
        model.predict_proba(audit[train_model.FEATURES])[:, 1], shipped.scores(shipped_audit)
    )
