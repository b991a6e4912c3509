"""Messages for the failures that left a first-time user stuck: each says what to do."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from auditor.errors import ModelError
from auditor.load.scorers import EstimatorScorer, OnnxScorer, ScoreColumnScorer
from tests.test_cli import assert_bad_input, run


def _csv_round_trip(frame: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, **kwargs)  # type: ignore[call-overload]
    buffer.seek(0)
    return pd.read_csv(buffer)


def _ward_frame(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.normal(60, 10, n).round(),
            "ward": pd.Categorical(rng.choice(["A", "B", "C"], n)),
        }
    )
    label = (rng.random(n) < 0.2 + 0.3 * (frame["ward"] == "A")).astype(int)
    return frame, label.to_numpy()


def test_lightgbm_categorical_from_csv_says_parquet_keeps_categories() -> None:
    lightgbm = pytest.importorskip("lightgbm")
    frame, label = _ward_frame()
    model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(frame, label)
    from_csv = _csv_round_trip(frame)
    with pytest.raises(ModelError) as error:
        EstimatorScorer(model, source="model.pkl").scores(from_csv)
    assert str(error.value) == (
        "model.pkl: the LightGBM model was trained with pandas categorical features, but these "
        "columns of the data are not categories: 'ward' (train and valid dataset "
        "categorical_feature do not match); CSV loses category types and Parquet keeps them: "
        "save the data as Parquet with those columns as pandas categories (the categories in "
        "training order)"
    )
    # the advice works: Parquet keeps the category type and the scores are the model's own
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    from_parquet = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    scores = EstimatorScorer(model, source="model.pkl").scores(from_parquet)
    np.testing.assert_allclose(scores, model.predict_proba(frame)[:, 1])


def test_sas_missing_dot_in_score_column_names_rows_and_values() -> None:
    frame = pd.DataFrame({"P_1": [0.2, None, 0.7, None, 0.1], "died": [0, 1, 1, 0, 0]})
    from_sas = _csv_round_trip(frame, na_rep=".")
    with pytest.raises(ModelError) as error:
        ScoreColumnScorer("P_1").scores(from_sas)
    assert str(error.value) == (
        "score column 'P_1': column 'P_1' is not numeric (str): 2 value(s) are not numbers: "
        "'.' (rows 2, 4); expected numbers; '.' is how SAS writes a missing value: export "
        "missing values as empty cells, which are read as missing"
    )


def test_sas_missing_dot_in_a_feature_names_column_rows_and_values() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"age": rng.normal(60, 10, 50), "bmi": rng.normal(27, 4, 50)})
    label = (frame["age"] > 60).astype(int)
    model = LogisticRegression().fit(frame, label)
    broken = frame.copy()
    broken.loc[[3, 9], "bmi"] = None
    with pytest.raises(ModelError) as error:
        EstimatorScorer(model, source="model.skops").scores(_csv_round_trip(broken, na_rep="."))
    assert str(error.value).startswith(
        "model.skops: column 'bmi' is not numeric (str): 2 value(s) are not numbers: '.' "
        "(rows 4, 10); expected numbers; '.' is how SAS writes a missing value"
    )


def test_one_dimensional_predict_proba_says_what_shape_is_expected() -> None:
    class OneColumn:
        classes_ = np.array([0, 1])

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            return np.full(len(frame), 0.3)

    with pytest.raises(ModelError) as error:
        EstimatorScorer(OneColumn(), source="model.pkl").scores(pd.DataFrame({"x": [1, 2, 3]}))
    assert str(error.value) == (
        "model.pkl: predict_proba returned one value per row (shape (3,)); expected one column "
        "per class, shape (3, 2), as scikit-learn classifiers return; if these values are "
        "already probabilities of the positive class, give them as model.score_column"
    )


def _matrix_onnx(tmp_path: Path) -> tuple[Path, pd.DataFrame, LogisticRegression]:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"age": rng.normal(60, 10, 80), "lactate": rng.gamma(2, 1, 80)})
    model = LogisticRegression().fit(frame, (frame["lactate"] > 2).astype(int))
    onx = skl2onnx.convert_sklearn(
        model,
        initial_types=[("X", FloatTensorType([None, 2]))],
        options={id(model): {"zipmap": False}},
        target_opset=18,
    )
    path = tmp_path / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    return path, frame, model


def test_onnx_single_matrix_input_asks_for_features_in_input_order(tmp_path: Path) -> None:
    path, frame, model = _matrix_onnx(tmp_path)
    with pytest.raises(ModelError) as error:
        OnnxScorer(path).scores(frame)
    assert str(error.value).endswith(
        "model.onnx: the ONNX model takes one matrix input 'X' of shape (rows, 2), not one input "
        "per column; list the data columns under features in the spec, in the model's input order"
    )
    scores = OnnxScorer(path, features=["age", "lactate"]).scores(frame)
    np.testing.assert_allclose(scores, model.predict_proba(frame)[:, 1], atol=1e-6)


def test_cli_sas_score_column_with_dots_is_bad_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "death_1y": rng.integers(0, 2, n),
            "P_1": rng.random(n).round(3),
        }
    )
    frame.loc[[4, 40], "P_1"] = None
    frame.to_csv(tmp_path / "sas.csv", index=False, na_rep=".")
    spec = {
        "name": "SAS export",
        "data": "sas.csv",
        "label": {"column": "death_1y", "positive": 1},
        "model": {"score_column": "P_1"},
        "sensitive": ["sex"],
        "bootstrap": 20,
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = run("audit", tmp_path / "spec.yaml", "--out", tmp_path / "out")
    assert_bad_input(
        result, "column 'P_1' is not numeric", "2 value(s) are not numbers: '.' (rows 5, 41)"
    )
