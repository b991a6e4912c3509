"""Load stage: the audit spec (schema, parsing, paths, cross-field rules, validate_spec)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from auditor.errors import DataError, ModelError, SpecError
from auditor.load.examples import EXAMPLE_DIR
from auditor.load.spec import DEFAULT_POLICY, AuditSpec, LabelSpec, ModelSpec
from auditor.load.spec_loader import is_pack_name, load_spec, validate_spec
from auditor.schema import SPEC_SCHEMA_PATH, spec_schema
from tests.load_helpers import make_cohort, write_cohort, write_spec

ALLOWED_KEYS = (
    "bootstrap, bootstrap_bins, cluster, data, discover, drop_missing_label, engine, explain, "
    "features, intersections, label, min_cell_size, model, model_card, name, named_groups, "
    "policy, privacy, reference_groups, reference_shares, seed, sensitive, task, threshold, "
    "undecided, waivers"
)


def spec_error(path: Path) -> str:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return str(caught.value)


# --- the schema itself ------------------------------------------------------------------


def _walk_properties(schema: dict[str, Any], where: str = "$") -> list[str]:
    """JSON paths of every property (and array item / map value) lacking a description."""
    missing = []
    for name, sub in schema.get("properties", {}).items():
        path = f"{where}.{name}"
        if "description" not in sub:
            missing.append(path)
        missing += _walk_properties(sub, path)
    for key in ("items", "additionalProperties"):
        sub = schema.get(key)
        if isinstance(sub, dict):
            missing += _walk_properties(sub, f"{where}[{key}]")
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        missing += _walk_properties(branch, where)
    return missing


def test_schema_is_draft_2020_12_with_a_description_everywhere() -> None:
    schema = json.loads(SPEC_SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert _walk_properties(schema) == []
    assert set(schema["properties"]) == set(ALLOWED_KEYS.split(", "))
    assert set(schema["properties"]["model"]["properties"]) == {
        "output",
        "score_column",
        "score_columns",
        "path",
        "sha256",
        "trusted_types",
        "name",
        "version",
    }


def test_the_example_spec_is_valid_and_complete() -> None:
    spec = load_spec(EXAMPLE_DIR / "spec.yaml")
    validate_spec(spec)
    assert spec.name == "Hospital admission risk model v1.0 release audit"
    assert spec.label == LabelSpec(column="hospitalized", positive=1)
    assert spec.model.path == EXAMPLE_DIR / "model.skops"
    assert spec.sensitive == ("race", "sex", "age_band", "payer")
    assert spec.intersections == (("race", "sex"), ("race", "age_band"))
    assert spec.reference_groups == {"race": "Not Black", "sex": "female", "payer": "Private"}
    assert spec.thresholds == (0.2,)
    assert spec.policies == ("clinical-default",)
    assert (spec.seed, spec.bootstrap, spec.min_cell_size) == (0, 1000, 11)
    for key in (
        "intended_use",
        "training_data",
        "evaluation_data",
        "limitations",
        "developer",
        "contact",
        "out_of_scope_use",
        "ethical_considerations",
    ):
        assert spec.model_card[key]
    assert spec.source_sha256 is not None and len(spec.source_sha256) == 64


# --- reading the file -------------------------------------------------------------------


def test_missing_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert spec_error(path) == f"{path}: spec file not found"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ndata: [unclosed\nlabel: {column: y}\n")
    assert spec_error(path) == (
        f"{path}: line 3, column 6: invalid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence that starts at line 2, column 7)"
    )
    path.write_text("name: x\n  data: y\n")
    assert spec_error(path) == (
        f"{path}: line 2, column 7: invalid YAML: mapping values are not allowed here"
    )


def test_duplicate_key_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: a\nname: b\n")
    assert spec_error(path) == f"{path}: line 2, column 1: invalid YAML: duplicate key 'name'"


def test_json_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text('{"name": "x",\n "data": }')
    assert spec_error(path) == f"{path}: line 2, column 10: invalid JSON: Expecting value"


def test_json_spec_loads_like_yaml(tmp_path: Path) -> None:
    yaml_spec = load_spec(write_spec(tmp_path))
    json_spec = load_spec(write_spec(tmp_path, "spec.json"))
    assert json_spec.label == yaml_spec.label
    assert json_spec.data == yaml_spec.data == tmp_path / "cohort.csv"


def test_empty_and_non_mapping_specs(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    assert spec_error(path) == (
        f"{path}: the spec is empty; expected a mapping with at least data, label, model, "
        "name and sensitive"
    )
    path.write_text("- a\n- b\n")
    assert spec_error(path) == f"{path}: $: expected a mapping of keys to values, got list"


# --- schema violations -----------------------------------------------------------------


def test_schema_violation_names_the_json_path(tmp_path: Path) -> None:
    path = write_spec(tmp_path, label={"positive": 1})
    assert spec_error(path) == f"{path}: $.label.column: 'column' is a required property"


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lable={"column": "died"})
    assert spec_error(path) == (
        f"{path}: $.lable: unknown key 'lable' (did you mean 'label'?); "
        f"allowed keys: {ALLOWED_KEYS}"
    )
    path = write_spec(tmp_path, wallpaper="blue")
    assert (
        spec_error(path)
        == f"{path}: $.wallpaper: unknown key 'wallpaper'; allowed keys: {ALLOWED_KEYS}"
    )


def test_both_score_column_and_path(tmp_path: Path) -> None:
    path = write_spec(tmp_path, model={"score_column": "risk", "path": "model.skops"})
    assert spec_error(path) == (
        f"{path}: $.model: give exactly one of 'score_column' (a column of precomputed "
        "probabilities) and 'path' (a model file or folder), not both"
    )


def test_neither_score_column_nor_path(tmp_path: Path) -> None:
    path = write_spec(tmp_path, model={"name": "m"})
    assert spec_error(path) == (
        f"{path}: $.model: give exactly one of 'score_column' (a column of precomputed "
        "probabilities) and 'path' (a model file or folder); neither is set"
    )


def test_every_problem_is_reported_sorted_one_per_line(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        name="",
        label={"positive": 1},
        model={},
        sensitive=[],
        threshold=[0.2, 1.5],
        policy=3,
        seed=-1,
        explain={"top_k": 0},
        reference_groups={"race": ["a"]},
    )
    path.write_text(path.read_text() + "model_card: 3\n")
    assert spec_error(path).splitlines() == [
        f"{path}: $.explain.top_k: 0 is less than the minimum of 1",
        f"{path}: $.label.column: 'column' is a required property",
        f"{path}: $.model: give exactly one of 'score_column' (a column of precomputed "
        "probabilities) and 'path' (a model file or folder); neither is set",
        f"{path}: $.model_card: 3 is not of type 'object'",
        f"{path}: $.name: '' should be non-empty",
        f"{path}: $.policy: 3 is not of type 'string' or 'array'",
        f"{path}: $.reference_groups.race: ['a'] is not of type 'string', 'number', 'boolean'",
        f"{path}: $.seed: -1 is less than the minimum of 0",
        f"{path}: $.sensitive: [] should be non-empty",
        f"{path}: $.threshold[1]: 1.5 is greater than or equal to the maximum of 1",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "$.threshold: 1.5 is greater than or equal to the maximum of 1"),
        (0, "$.threshold: 0 is less than or equal to the minimum of 0"),
        ("high", "$.threshold: 'high' is not of type 'number' or 'array'"),
        ([], "$.threshold: [] should be non-empty"),
    ],
)
def test_threshold_must_be_in_the_open_unit_interval(
    tmp_path: Path, value: object, message: str
) -> None:
    path = write_spec(tmp_path, threshold=value)
    assert spec_error(path) == f"{path}: {message}"


def test_sha256_must_be_64_hex_digits(tmp_path: Path) -> None:
    path = write_spec(tmp_path, model={"path": "m.pkl", "sha256": "abc"})
    assert spec_error(path) == (
        f"{path}: $.model.sha256: 'abc' is not a SHA-256; expected 64 hexadecimal digits"
    )


# --- cross-field rules ------------------------------------------------------------------


def test_intersections_and_reference_groups_only_of_sensitive_attributes(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        intersections=[["race", "unit"], ["sex", "race"], ["race", "sex"]],
        reference_groups={"unit": "icu", "race": "White"},
        reference_shares={"age": {"old": 0.5}},
    )
    assert spec_error(path).splitlines() == [
        f"{path}: $.intersections[0][1]: 'unit' is not a sensitive attribute; attributes of "
        "intersections must be listed in $.sensitive (race, sex)",
        f"{path}: $.intersections[2]: repeats $.intersections[1] (the order of attributes "
        "does not matter)",
        f"{path}: $.reference_groups.unit: 'unit' is not a sensitive attribute; keys of "
        "reference_groups must be listed in $.sensitive (race, sex)",
        f"{path}: $.reference_shares.age: 'age' is not a sensitive attribute; keys of "
        "reference_shares must be listed in $.sensitive (race, sex)",
    ]


def test_label_cannot_be_a_feature_or_sensitive(tmp_path: Path) -> None:
    path = write_spec(tmp_path, features=["age", "died"], sensitive=["race", "died"])
    assert spec_error(path).splitlines() == [
        f"{path}: $.features[1]: the label column 'died' cannot be a feature: the model must "
        "not read the outcome",
        f"{path}: $.sensitive[1]: the label column 'died' cannot also be a sensitive attribute",
    ]


# --- values, defaults and paths ---------------------------------------------------------


def test_defaults_and_types(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    assert isinstance(spec, AuditSpec)
    assert spec.thresholds == (0.5,)
    assert spec.policies == (DEFAULT_POLICY,)
    assert spec.features is None
    assert spec.intersections == ()
    assert spec.min_cell_size == 11
    assert spec.drop_missing_label is False
    assert spec.model == ModelSpec(score_column="risk")
    assert spec.source == tmp_path / "spec.yaml"
    assert spec.raw["label"] == {"column": "died", "positive": 1}


def test_relative_paths_resolve_against_the_spec_folder(tmp_path: Path) -> None:
    folder = tmp_path / "audits" / "v2"
    folder.mkdir(parents=True)
    spec = load_spec(
        write_spec(
            folder,
            data="../data/cohort.parquet",
            model={"path": "model.skops"},
            policy=["clinical-default", "local-policy.yaml", "policies/extra.yml", "/abs/p.json"],
        )
    )
    assert spec.data == folder / "../data/cohort.parquet"
    assert spec.model.path == folder / "model.skops"
    assert spec.policies == (
        "clinical-default",
        str(folder / "local-policy.yaml"),
        str(folder / "policies/extra.yml"),
        "/abs/p.json",
    )
    assert is_pack_name("four-fifths") and not is_pack_name("four-fifths.yaml")


def test_yes_and_no_stay_strings_and_values_become_group_names(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: t\ndata: c.csv\nlabel: {column: died, positive: yes, negative: no}\n"
        "model: {score_column: risk, version: '1.10'}\nsensitive: [smoker, stage]\n"
        "reference_groups: {smoker: NO, stage: 2}\nthreshold: [0.1, 0.3]\n"
        "reference_shares: {stage: {1: 0.5, 2: 0.5}}\n"
    )
    spec = load_spec(path)
    assert spec.label == LabelSpec(column="died", positive="yes", negative="no")
    assert spec.reference_groups == {"smoker": "NO", "stage": "2"}
    assert spec.reference_shares == {"stage": {"1": 0.5, "2": 0.5}}
    assert spec.thresholds == (0.1, 0.3) and spec.threshold == 0.1
    assert spec.model.version == "1.10"


def test_lowering_min_cell_size_warns(tmp_path: Path) -> None:
    path = write_spec(tmp_path, min_cell_size=5)
    with pytest.warns(UserWarning) as caught:
        spec = load_spec(path)
    assert spec.min_cell_size == 5
    assert [str(w.message) for w in caught] == [
        f"{path}: $.min_cell_size is 5, below the privacy floor of 11: groups with as few as 5 "
        "patients will appear in reports; lower it only with your data governance's approval"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_spec(write_spec(tmp_path, min_cell_size=11))


# --- validate_spec: files and columns ---------------------------------------------------


def test_validate_spec_accepts_csv_and_parquet(tmp_path: Path) -> None:
    cohort = make_cohort(50)
    write_cohort(tmp_path, cohort)
    write_cohort(tmp_path, cohort, "cohort.parquet")
    validate_spec(load_spec(write_spec(tmp_path, features=["age", "unit"])))
    validate_spec(load_spec(write_spec(tmp_path, data="cohort.parquet")))


def test_validate_spec_missing_data_file(tmp_path: Path) -> None:
    path = write_spec(tmp_path, data="missing.csv")
    with pytest.raises(DataError) as caught:
        validate_spec(load_spec(path))
    assert str(caught.value) == (
        f"{tmp_path / 'missing.csv'}: data file not found (named by $.data in {path})"
    )


def test_validate_spec_missing_model_file(tmp_path: Path) -> None:
    write_cohort(tmp_path, make_cohort(20))
    path = write_spec(tmp_path, model={"path": "model.skops"})
    with pytest.raises(ModelError) as caught:
        validate_spec(load_spec(path))
    assert str(caught.value) == (
        f"{tmp_path / 'model.skops'}: model file not found (named by $.model.path in {path})"
    )


def test_validate_spec_names_each_missing_column(tmp_path: Path) -> None:
    data = write_cohort(tmp_path, make_cohort(20))
    path = write_spec(
        tmp_path,
        label={"column": "Died", "positive": 1},
        sensitive=["rase", "sex", "ethnicity"],
        features=["age", "lactat"],
    )
    with pytest.raises(DataError) as caught:
        validate_spec(load_spec(path))
    columns = "died, risk, race, sex, age, lactate, unit"
    assert str(caught.value).splitlines() == [
        f"{data}: column 'Died' (named by $.label.column in {path}) is not in the data; "
        f"did you mean 'died'?; columns in the file: {columns}",
        f"{data}: column 'rase' (named by $.sensitive[0] in {path}) is not in the data; "
        f"did you mean 'race'?; columns in the file: {columns}",
        f"{data}: column 'ethnicity' (named by $.sensitive[2] in {path}) is not in the data; "
        f"columns in the file: {columns}",
        f"{data}: column 'lactat' (named by $.features[1] in {path}) is not in the data; "
        f"did you mean 'lactate'?; columns in the file: {columns}",
    ]


def test_validate_spec_reads_only_the_parquet_schema(tmp_path: Path) -> None:
    write_cohort(tmp_path, make_cohort(20), "cohort.parquet")
    path = write_spec(tmp_path, data="cohort.parquet", model={"score_column": "score"})
    with pytest.raises(DataError) as caught:
        validate_spec(load_spec(path))
    assert str(caught.value) == (
        f"{tmp_path / 'cohort.parquet'}: column 'score' (named by $.model.score_column in "
        f"{path}) is not in the data; columns in the file: "
        "died, risk, race, sex, age, lactate, unit"
    )


def test_validate_spec_checks_cross_fields_of_specs_built_in_code(tmp_path: Path) -> None:
    spec = AuditSpec(
        name="t",
        data=tmp_path / "c.csv",
        label=LabelSpec(column="died"),
        model=ModelSpec(score_column="risk"),
        sensitive=("race",),
        intersections=(("race", "sex"),),
    )
    with pytest.raises(SpecError) as caught:
        validate_spec(spec)
    assert str(caught.value) == (
        "the spec: $.intersections[0][1]: 'sex' is not a sensitive attribute; attributes of "
        "intersections must be listed in $.sensitive (race)"
    )


def test_spec_schema_is_cached_and_shipped() -> None:
    assert spec_schema() is spec_schema()
    assert SPEC_SCHEMA_PATH.parent.name == "schema"
