"""Policies: the schema, loading and validation messages, extends, and the shipped packs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from policy_helpers import example_report, policy_doc, rule, write_policy

import policies
from auditor.errors import EXIT_BAD_INPUT, PolicyError
from auditor.judge.engine import judge
from auditor.judge.policy import (
    DisparityCheck,
    MetricCheck,
    Policy,
    list_packs,
    load_policies,
    load_policy_text,
    validate_policy_file,
)
from auditor.tasks import all_metric_ids

SENS = {"kind": "metric", "metric": "sensitivity", "min": 0.7, "bound_on": "interval"}
PACKS = [
    "clinical-default",
    "equalized-odds-strict",
    "four-fifths",
    "hti-1-transparency",
    "tripod-ai",
]


def error_of(path: Path) -> str:
    with pytest.raises(PolicyError) as info:
        validate_policy_file(path)
    assert info.value.exit_code == EXIT_BAD_INPUT
    return info.value.message


# -------------------------------------------------------------------------- schema


def _walk(node: Any, where: str = "$schema"):
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


def test_schema_is_draft_2020_12_with_a_description_on_every_property():
    schema = policies.schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    language = {k: v for k, v in schema.items() if k != "examples"}
    undocumented = [
        f"{where}/properties/{name}"
        for where, node in _walk(language)
        if "/if" not in where
        for name, prop in node.get("properties", {}).items()
        if "description" not in prop
    ]
    assert undocumented == []


def test_every_object_of_the_schema_forbids_unknown_keys():
    language = {k: v for k, v in policies.schema().items() if k != "examples"}
    open_objects = [
        where
        for where, node in _walk(language)
        if "properties" in node
        and "/if" not in where
        and node.get("additionalProperties") is not False
        and where != "$schema/$defs/check"  # dispatches to one closed schema per kind
    ]
    assert open_objects == []


def test_schema_examples_are_valid_policies():
    schema = policies.schema()
    assert schema["examples"]
    for example in schema["examples"]:
        policy = load_policy_text(json.dumps(example), name="example.json")
        assert policy.extends == ("clinical-default",)
        assert [r.id for r in policy.rules][-3:] == [
            "sensitivity-per-group",
            "no-auroc-regression",
            "model-card",
        ]


# --------------------------------------------------------------------------- packs


def test_list_packs_has_every_pack_with_counts_and_descriptions():
    packs = list_packs()
    assert [p.id for p in packs] == PACKS
    for info in packs:
        policy = load_policies([info.id])[0]
        assert info.rule_count == len(policy.rules) > 0
        assert info.description and info.title and info.version == "1.0.0"
        assert info.source == info.id
        resource = policies.pack_resource(info.id)
        assert resource is not None
        assert info.sha256 == hashlib.sha256(resource.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", PACKS)
def test_every_shipped_pack_validates_and_cites_its_sources(name):
    resource = policies.pack_resource(name)
    assert resource is not None
    policy = validate_policy_file(Path(str(resource)))
    assert policy.id == name
    assert all(r.source.strip() and r.rationale.strip() for r in policy.rules)


@pytest.mark.parametrize("name", PACKS)
def test_every_shipped_pack_judges_a_hand_made_report(name):
    policy = load_policies([name])[0]
    judgement = judge(example_report(), [policy])
    binary_rules = {r.id for r in policy.rules if not r.tasks or "binary" in r.tasks}
    assert {r.rule_id for r in judgement.results} == binary_rules
    assert judgement.verdict in ("pass", "warn", "fail")
    counts = judgement.counts
    assert counts.passed + counts.failed + counts.inconclusive + counts.not_evaluable == len(
        judgement.results
    )


def test_clinical_default_on_the_hand_made_report_warns_but_does_not_block():
    judgement = judge(example_report(), load_policies(["clinical-default"]))
    assert judgement.verdict == "warn"
    assert judgement.counts.blocking_failures == 0
    failed = {
        (r.rule_id, r.group if not isinstance(r.group, list) else tuple(r.group))
        for r in judgement.results
        if r.status != "pass" and r.status != "not_evaluable"
    }
    assert ("group-size", "Asian") in failed and ("calibration", "Black") in failed


def test_hti_1_pack_asks_for_all_source_attribute_categories():
    policy = load_policies(["hti-1-transparency"])[0]
    assert len(policy.rules) == 9
    fields = [f for r in policy.rules for f in r.check.fields]  # type: ignore[union-attr]
    assert len(fields) == len(set(fields)) == 32  # 31 attributes; name and contact apart
    judgement = judge(example_report(model_card={f: "Documented." for f in fields}), [policy])
    assert judgement.verdict == "pass"


@pytest.mark.slow
def test_every_pack_runs_on_the_bundled_example():
    from auditor.audit import build_report, prepare
    from auditor.load.examples import demo_spec_path
    from auditor.load.spec_loader import load_spec

    spec = load_spec(demo_spec_path())
    report = build_report(prepare(spec), policies=load_policies(["clinical-default"]), bootstrap=50)
    assert report.verdict in ("pass", "warn")
    assert report.counts.blocking_failures == 0
    for name in PACKS:
        judgement = judge(report, load_policies([name]))
        assert judgement.results
        assert all(r.message for r in judgement.results)


# ---------------------------------------------------------------------- malformed


def test_wrong_severity_names_the_json_path_and_what_was_expected(tmp_path):
    path = write_policy(tmp_path, "p.yaml", policy_doc(rule("r", SENS, severity="blocker")))
    assert error_of(path) == (
        f"{path}: $.rules[0].severity: 'blocker' is not one of ['block', 'warn', 'info']"
    )


def test_missing_bounds(tmp_path):
    path = write_policy(
        tmp_path, "p.yaml", policy_doc(rule("r", {"kind": "metric", "metric": "auroc"}))
    )
    assert error_of(path) == f"{path}: $.rules[0].check: expected at least one of: min, max"


def test_unknown_metric_suggests_the_nearest_id(tmp_path):
    path = write_policy(tmp_path, "p.yaml", policy_doc(rule("r", dict(SENS, metric="sensitivty"))))
    assert error_of(path) == (
        f"{path}: $.rules[0].check.metric: unknown metric 'sensitivty'; did you mean sensitivity?"
    )


def test_unknown_metric_without_a_near_id_lists_the_registry(tmp_path):
    path = write_policy(tmp_path, "p.yaml", policy_doc(rule("r", dict(SENS, metric="qaly"))))
    assert error_of(path) == (
        f"{path}: $.rules[0].check.metric: unknown metric 'qaly'; known metrics: "
        + ", ".join(all_metric_ids())
    )


def test_wrong_type(tmp_path):
    path = write_policy(
        tmp_path, "p.yaml", policy_doc(rule("r", SENS, selector={"min_n": "fifty"}))
    )
    assert error_of(path) == f"{path}: $.rules[0].selector.min_n: 'fifty' is not of type 'integer'"


def test_every_error_is_listed_one_per_line_sorted_by_path(tmp_path):
    doc = policy_doc(
        rule("a", {"kind": "metric", "metric": "auroc"}),
        rule(
            "a",
            dict(SENS, metric="specifity"),
            severity="blocker",
            selector={"atributes": ["race"]},
        ),
        rule(
            "c",
            {
                "kind": "disparity",
                "metric": "fnr",
                "fairness_metric": "equal_odds",
                "min": 0.5,
                "max": 0.1,
            },
        ),
        rule("d", {"kind": "calibration", "slope": {}}),
        rule("e", {"kind": "regression", "metric": "prevalence", "margin": -1}),
        rule("f", {"kind": "metrc"}),
    )
    doc["version"] = 2.0
    del doc["rules"][5]["source"]
    path = write_policy(tmp_path, "p.yaml", doc)
    assert error_of(path).splitlines() == [
        f"{path}: {line}"
        for line in [
            "$.rules[0].check: expected at least one of: min, max",
            "$.rules[1].check.metric: unknown metric 'specifity'; did you mean specificity?",
            "$.rules[1].id: rule id 'a' is already used by $.rules[0]; rule ids must be unique",
            "$.rules[1].selector.atributes: unknown key 'atributes' (did you mean attributes?); "
            "expected one of: attributes, groups, include_overall, include_intersections, min_n",
            "$.rules[1].severity: 'blocker' is not one of ['block', 'warn', 'info']",
            "$.rules[2].check: expected exactly one of: metric, fairness_metric",
            "$.rules[2].check: min 0.5 is greater than max 0.1",
            "$.rules[2].check.fairness_metric: unknown fairness metric 'equal_odds'; did you mean "
            "equalized_odds_ratio?",
            "$.rules[3].check.slope: expected at least one of: min, max",
            "$.rules[4].check.margin: -1 is less than the minimum of 0",
            "$.rules[4].check.metric: metric 'prevalence' has no better direction; a regression "
            "check needs a metric where higher, lower or closer to a target is better",
            "$.rules[5]: 'source' is a required property",
            "$.rules[5].check.kind: 'metrc' is not one of ['metric', 'disparity', 'calibration', "
            "'regression', 'representation', 'proxy', 'documentation', 'discovery']",
            "$.version: 2.0 is not of type 'string'",
        ]
    ]


def test_unknown_metric_is_reported_even_when_the_kind_is_missing(tmp_path):
    path = write_policy(
        tmp_path, "p.yaml", policy_doc(rule("r", {"metric": "sensitivty", "min": 0.5}))
    )
    assert error_of(path).splitlines() == [
        f"{path}: $.rules[0].check: 'kind' is a required property",
        f"{path}: $.rules[0].check.metric: unknown metric 'sensitivty'; did you mean sensitivity?",
    ]


def test_unknown_top_level_key_and_wrong_container_types(tmp_path):
    doc = policy_doc(rule("r", SENS))
    doc["rule"] = []
    doc["rules"].append("not a rule")
    path = write_policy(tmp_path, "p.yaml", doc)
    assert error_of(path).splitlines() == [
        f"{path}: $.rule: unknown key 'rule' (did you mean rules?); expected one of: id, title, "
        "version, description, extends, undecided, intervals, rules",
        f"{path}: $.rules[1]: 'not a rule' is not of type 'object'",
    ]


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write_policy(tmp_path, "p.yaml", "id: x\ntitle: [unclosed\nversion: '1'\n")
    message = error_of(path)
    assert message.startswith(f"{path}: line 3, column 8: not valid YAML: ")


def test_json_policies_load_and_json_syntax_errors_name_the_line(tmp_path):
    good = tmp_path / "p.json"
    good.write_text(json.dumps(policy_doc(rule("r", SENS))))
    assert validate_policy_file(good).rules[0].check == MetricCheck(
        metric="sensitivity",
        bounds=validate_policy_file(good).rules[0].check.bounds,  # type: ignore[union-attr]
        bound_on="interval",
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x",\n "title": }')
    assert error_of(bad) == f"{bad}: line 2, column 11: not valid JSON: Expecting value"


def test_a_document_that_is_not_a_mapping(tmp_path):
    assert error_of(write_policy(tmp_path, "p.yaml", "- a\n- b\n")) == (
        f"{tmp_path / 'p.yaml'}: $: expected a policy (a mapping with id, title, version and "
        "rules), got a list"
    )
    assert error_of(write_policy(tmp_path, "e.yaml", "")).endswith("got an empty document")


def test_missing_files_and_unknown_packs():
    with pytest.raises(PolicyError) as info:
        load_policies(["clinical-defualt"])
    assert info.value.message == (
        "unknown policy pack 'clinical-defualt'; did you mean clinical-default?; shipped packs: "
        + ", ".join(PACKS)
    )
    with pytest.raises(PolicyError) as info:
        load_policies(["clinical-default.yaml"], base_dir=Path("/nowhere"))
    assert info.value.message == (
        "/nowhere/clinical-default.yaml: policy file not found; did you mean the shipped pack "
        "clinical-default?"
    )


def test_a_policy_needs_rules(tmp_path):
    path = write_policy(tmp_path, "p.yaml", policy_doc())
    assert error_of(path) == (
        f"{path}: $.rules: a policy needs at least one rule (here or through extends)"
    )


# ------------------------------------------------------------------------- extends


def test_extends_overrides_rules_by_id_and_keeps_the_parents_order(tmp_path):
    stricter = rule(
        "discrimination",
        {"kind": "metric", "metric": "auroc", "min": 0.75, "bound_on": "interval"},
        title="Stricter AUROC",
    )
    extra = rule("local-sensitivity", SENS)
    path = write_policy(
        tmp_path,
        "local.yaml",
        policy_doc(stricter, extra, policy_id="local", extends="clinical-default"),
    )
    parent = load_policies(["clinical-default"])[0]
    child = validate_policy_file(path)
    assert [r.id for r in child.rules] == [*(r.id for r in parent.rules), "local-sensitivity"]
    replaced = next(r for r in child.rules if r.id == "discrimination")
    assert replaced.title == "Stricter AUROC"
    assert replaced.check.bounds.min == 0.75  # type: ignore[union-attr]
    assert replaced.selector.include_overall is False  # whole rule replaced, not merged
    assert child.extends == ("clinical-default",)
    assert child.extends_sha256 == (parent.sha256,)
    assert child.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (child.source, child.path, child.id) == ("local.yaml", path, "local")


def test_extends_chains_resolve_relative_paths_against_each_file(tmp_path):
    (tmp_path / "base").mkdir()
    write_policy(
        tmp_path / "base", "a.yaml", policy_doc(rule("a1", SENS), rule("a2", SENS), policy_id="a")
    )
    write_policy(
        tmp_path / "base",
        "b.yaml",
        policy_doc(rule("a2", SENS, severity="info"), policy_id="b", extends="a.yaml"),
    )
    path = write_policy(
        tmp_path, "c.yaml", policy_doc(rule("c1", SENS), policy_id="c", extends="base/b.yaml")
    )
    policy = validate_policy_file(path)
    assert [(r.id, r.severity) for r in policy.rules] == [
        ("a1", "block"),
        ("a2", "info"),
        ("c1", "block"),
    ]
    assert policy.extends == ("b.yaml", "a.yaml")
    child_only = write_policy(
        tmp_path, "d.yaml", {"id": "d", "title": "D", "version": "1", "extends": "c.yaml"}
    )
    assert len(validate_policy_file(child_only).rules) == 3


def test_extends_cycle_names_the_chain(tmp_path):
    a = write_policy(
        tmp_path, "a.yaml", policy_doc(rule("r", SENS), policy_id="a", extends="b.yaml")
    )
    b = write_policy(
        tmp_path, "b.yaml", policy_doc(rule("r", SENS), policy_id="b", extends="a.yaml")
    )
    assert error_of(a) == f"{b}: $.extends: extends cycle: {a} -> {b} -> {a}"
    selfish = write_policy(
        tmp_path, "s.yaml", policy_doc(rule("r", SENS), policy_id="s", extends="s.yaml")
    )
    assert error_of(selfish) == f"{selfish}: $.extends: extends cycle: {selfish} -> {selfish}"


def test_extends_errors_name_the_file_that_has_them(tmp_path):
    missing = write_policy(tmp_path, "m.yaml", policy_doc(rule("r", SENS), extends="gone.yaml"))
    assert error_of(missing) == (
        f"{missing}: $.extends: {tmp_path / 'gone.yaml'}: policy file not found"
    )
    write_policy(tmp_path, "bad.yaml", policy_doc(rule("r", SENS, severity="fatal")))
    child = write_policy(tmp_path, "child.yaml", policy_doc(rule("r", SENS), extends="bad.yaml"))
    assert error_of(child) == (
        f"{tmp_path / 'bad.yaml'}: $.rules[0].severity: 'fatal' is not one of "
        "['block', 'warn', 'info']"
    )


# -------------------------------------------------------------------- load_policies


def test_load_policies_resolves_against_base_dir_and_keeps_order(tmp_path):
    write_policy(tmp_path, "mine.yaml", policy_doc(rule("r", SENS), policy_id="mine"))
    loaded = load_policies(["four-fifths", "mine.yaml"], base_dir=tmp_path)
    assert [p.id for p in loaded] == ["four-fifths", "mine"]
    assert isinstance(loaded[0].rules[0].check, DisparityCheck)
    assert loaded[0].path is None and loaded[1].path == tmp_path / "mine.yaml"
    assert all(isinstance(p, Policy) for p in loaded)


def test_two_policies_with_one_id_are_refused(tmp_path):
    write_policy(tmp_path, "fake.yaml", policy_doc(rule("r", SENS), policy_id="four-fifths"))
    with pytest.raises(PolicyError) as info:
        load_policies(["four-fifths", "fake.yaml"], base_dir=tmp_path)
    assert info.value.message == (
        f"policy id 'four-fifths' is used by both the shipped pack four-fifths and "
        f"{tmp_path / 'fake.yaml'}; give each policy its own id"
    )


def test_policies_are_immutable_typed_values():
    policy = load_policies(["clinical-default"])[0]
    with pytest.raises(AttributeError):
        policy.rules[0].severity = "info"  # type: ignore[misc]
    gap = next(r for r in policy.rules if r.id == "sensitivity-gap")
    assert gap.check == DisparityCheck(
        bounds=gap.check.bounds,
        metric="sensitivity",
        measure="difference",  # type: ignore[union-attr]
        compare_to="reference",
        bound_on="interval",
    )
    assert gap.selector.min_n == 100 and gap.kind == "disparity"


def test_load_policy_text_reports_errors_under_the_given_name():
    with pytest.raises(PolicyError) as info:
        load_policy_text(yaml.safe_dump(policy_doc(rule("r", SENS, severity="x"))), name="editor")
    assert info.value.message == (
        "editor: $.rules[0].severity: 'x' is not one of ['block', 'warn', 'info']"
    )
