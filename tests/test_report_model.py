"""The typed report model: its shipped schema, JSON round trip and privacy floor."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest
from pydantic import ValidationError
from report_factory import (
    LEAKY_N,
    LEAKY_VALUES,
    SECOND_SUPPRESSED_GROUP,
    SUPPRESSED_GROUP,
    WITHHELD_GROUP,
    make_report,
)

from auditor.privacy.suppression import SUPPRESSED_COMPLEMENTARY
from reports.model import (
    SCHEMA_PATH,
    SCHEMA_VERSION,
    SUPPRESSED_PROXY_REASON,
    SUPPRESSED_RESULT_MESSAGE,
    Estimate,
    GroupResult,
    Report,
    RepresentationRow,
    below_minimum,
    group_key,
    report_json_schema,
    suppressed_result_message,
)


def _walk(node: object):  # type: ignore[no-untyped-def]
    """Every dict in a JSON document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_shipped_schema_is_the_generated_one() -> None:
    shipped = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert shipped == report_json_schema(), "run: python -m reports.model"


def test_schema_is_valid_draft_2020_12_and_versioned() -> None:
    schema = report_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(SCHEMA_VERSION)
    assert schema["properties"]["schema_version"]["default"] == SCHEMA_VERSION


def test_every_property_has_a_description() -> None:
    schema = report_json_schema()
    missing = [
        f"{name}.{prop}"
        for name, definition in schema["$defs"].items()
        for prop, spec in definition.get("properties", {}).items()
        if "description" not in spec
    ]
    missing += [p for p, spec in schema["properties"].items() if "description" not in spec]
    assert missing == []


def test_factory_report_validates_against_the_schema() -> None:
    data = json.loads(make_report().to_json())
    jsonschema.validate(data, report_json_schema())
    for key in ("verdict", "groups", "disparities", "policy_results", "explanations"):
        assert key in data
    assert {"data_checks", "provenance"} <= data.keys()


def test_public_keys_ci_pipelines_rely_on() -> None:
    data = json.loads(make_report().to_json())
    assert data["verdict"] in ("pass", "warn", "fail")
    group = next(g for g in data["groups"] if g["group"] == "Black")
    assert {
        "attribute",
        "group",
        "n",
        "suppressed",
        "suppression_reason",
        "metrics",
    } <= group.keys()
    assert {"estimate", "ci_low", "ci_high"} <= group["metrics"]["auroc"].keys()
    intersection = next(g for g in data["groups"] if isinstance(g["attribute"], list))
    assert intersection["attribute"] == ["race", "sex"] and len(intersection["group"]) == 2
    disparity = data["disparities"][0]
    assert {
        "attribute",
        "metric",
        "kind",
        "reference",
        "group",
        "estimate",
        "ci_low",
        "ci_high",
    } <= (disparity.keys())
    result = data["policy_results"][0]
    assert {
        "policy",
        "rule_id",
        "severity",
        "status",
        "attribute",
        "group",
        "observed",
        "ci_low",
        "ci_high",
        "bound",
        "message",
    } <= result.keys()
    provenance = data["provenance"]
    assert {"libraries", "python", "sha256", "seed", "bootstrap_replicates", "thresholds"} <= (
        provenance.keys()
    )
    assert {"generated_at", "spec", "tool_version"} <= provenance.keys()


def test_json_round_trip_is_exact() -> None:
    text = make_report().to_json()
    assert Report.from_json(text).to_json() == text


def test_suppressed_group_has_no_n_key_and_no_metrics_in_json() -> None:
    data = json.loads(make_report().to_json())
    entry = next(g for g in data["groups"] if g["group"] == SUPPRESSED_GROUP)
    assert entry["suppressed"] is True
    assert "n" not in entry
    assert entry["metrics"] == {} and entry["by_threshold"] == {}


def test_leaky_producer_is_scrubbed_by_the_model() -> None:
    report = make_report(leaky=True)
    hidden = group_key("race", SUPPRESSED_GROUP)
    group = next(g for g in report.groups if group_key(g.attribute, g.group) == hidden)
    assert (group.n, group.metrics) == (None, {})
    assert all(group_key(c.attribute, c.group) != hidden for c in report.curves.roc)
    rows = [r for r in report.data_checks.representation if r.group == SUPPRESSED_GROUP]
    assert [(r.n, r.share, r.suppressed) for r in rows] == [(None, None, True)]
    assert all(m.group != SUPPRESSED_GROUP for m in report.data_checks.missingness)
    assert all(s["group"] != SUPPRESSED_GROUP for s in report.explanations.sample_per_group)
    expl = next(e for e in report.explanations.by_group if e.group == SUPPRESSED_GROUP)
    assert (expl.n_sample, expl.importance, expl.kendall_tau) == (None, [], None)
    result = next(
        r
        for r in report.policy_results
        if r.rule_id == "min-group-size" and r.group == SUPPRESSED_GROUP
    )
    assert result.observed is None
    assert result.message == SUPPRESSED_RESULT_MESSAGE.format(
        group=SUPPRESSED_GROUP, min_cell_size=11
    )
    assert (
        result.message == "Pacific Islander has fewer than 11 patients; its numbers are withheld."
    )
    proxy = next(p for p in report.explanations.proxies if p.excluded_groups)
    assert proxy.reason == SUPPRESSED_PROXY_REASON.format(min_cell_size=11)
    assert proxy.reason == "groups with fewer than 11 patients are left out"
    text = report.to_json()
    for value in LEAKY_VALUES:
        assert str(value) not in text
    for node in _walk(json.loads(text)):
        if node.get("group") in (SUPPRESSED_GROUP, SECOND_SUPPRESSED_GROUP):
            assert node.get("n") in (None,) and node.get("n_sample") is None
            assert node.get("observed") is None
    assert f"{LEAKY_N} patients" not in text and f"{LEAKY_N} rows" not in text


def test_privacy_floor_holds_for_reports_read_from_json() -> None:
    data = json.loads(make_report().to_json())
    entry = next(g for g in data["groups"] if g["group"] == SUPPRESSED_GROUP)
    entry["n"] = LEAKY_N
    entry["metrics"] = {"auroc": {"estimate": LEAKY_VALUES[1]}}
    report = Report.from_json(json.dumps(data))
    group = next(g for g in report.groups if g.group == SUPPRESSED_GROUP)
    assert group.n is None and group.metrics == {}


def test_suppressed_group_and_representation_rows_withhold_numbers() -> None:
    group = GroupResult(
        attribute="race",
        group="x",
        n=LEAKY_N,
        suppressed=True,
        metrics={"n": Estimate(estimate=LEAKY_N)},
    )
    assert group.n is None and group.metrics == {}
    assert "n" not in group.model_dump()
    row = RepresentationRow(attribute="race", group="x", n=LEAKY_N, share=0.001, suppressed=True)
    assert (row.n, row.share) == (None, None)


def test_withheld_group_keeps_n_and_loses_curves() -> None:
    report = make_report()
    withheld = next(g for g in report.groups if g.group == WITHHELD_GROUP)
    assert withheld.n is not None and withheld.label_metrics_withheld
    assert group_key("race", WITHHELD_GROUP) in report.label_withheld_keys()
    assert all(c.group != WITHHELD_GROUP for c in report.curves.roc)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(bad: float) -> None:
    with pytest.raises(ValidationError, match="finite number"):
        Estimate(estimate=bad)


def test_group_key_treats_one_item_lists_as_strings() -> None:
    assert group_key("race", "Black") == group_key(["race"], ["Black"]) == (("race",), ("Black",))
    assert group_key(["race", "sex"], ["Black", "Female"])[1] == ("Black", "Female")


def test_attribute_order_lists_attributes_then_intersections_once() -> None:
    order = [key for _, key in make_report().attribute_order()]
    assert order == [("race",), ("sex",), ("race", "sex")]


def _with_rows_naming(data: dict, attribute: object, hidden: object, shown: object) -> dict:
    """A report.json whose rows that compare groups name a suppressed group."""
    explained = data["explanations"]["differing_features"]
    explained.append(
        {
            "attribute": attribute,
            "feature": "lactate",
            "max_group": hidden,
            "min_group": shown,
            "max_minus_min": LEAKY_VALUES[1],
        }
    )
    explained.append(
        {
            "attribute": attribute,
            "feature": "age",
            "max_group": shown,
            "min_group": hidden,
            "max_minus_min": LEAKY_VALUES[0],
        }
    )
    data["data_checks"]["missingness_disparities"].append(
        {
            "attribute": attribute,
            "feature": "lactate",
            "max_group": hidden,
            "max_rate": LEAKY_VALUES[0],
            "min_group": shown,
            "min_rate": 0.01,
            "difference": LEAKY_VALUES[0] - 0.01,
        }
    )
    return data


@pytest.mark.parametrize(
    ("attribute", "hidden", "shown"),
    [
        ("race", SUPPRESSED_GROUP, "White"),
        (["race", "sex"], [SUPPRESSED_GROUP, "Female"], ["White", "Female"]),
    ],
)
def test_rows_comparing_groups_drop_any_that_names_a_suppressed_group(
    attribute: object, hidden: object, shown: object
) -> None:
    data = _with_rows_naming(json.loads(make_report().to_json()), attribute, hidden, shown)
    kept_before = len(data["explanations"]["differing_features"]) - 2
    report = Report.from_json(json.dumps(data))
    rows = report.explanations.differing_features + report.data_checks.missingness_disparities
    assert len(report.explanations.differing_features) == kept_before
    for row in rows:
        named = [v for k, v in row.items() if k.endswith("group")]
        assert hidden not in named, row
    text = report.to_json()
    for value in LEAKY_VALUES:
        assert str(value) not in text


def test_a_note_naming_a_suppressed_group_with_a_number_is_dropped() -> None:
    data = json.loads(make_report().to_json())
    leak = f"lactate is missing for 42.9% of race = {SUPPRESSED_GROUP} against 8.2% of White."
    fine = f"race: 2 group(s) with fewer than 11 patients are shown ({SUPPRESSED_GROUP})."
    data["data_checks"]["notes"] += [leak, fine]
    notes = Report.from_json(json.dumps(data)).data_checks.notes
    assert leak not in notes and fine in notes


def test_a_group_suppressed_to_protect_another_is_not_called_small() -> None:
    assert below_minimum("fewer than 11 patients", 11)
    assert not below_minimum(SUPPRESSED_COMPLEMENTARY, 11)
    assert not below_minimum(None, 11)
    assert suppressed_result_message("Black × 85-94", SUPPRESSED_COMPLEMENTARY, 11) == (
        f"Black × 85-94: numbers withheld, {SUPPRESSED_COMPLEMENTARY}."
    )
    assert suppressed_result_message("Asian", "fewer than 11 patients", 11) == (
        "Asian has fewer than 11 patients; its numbers are withheld."
    )
    assert suppressed_result_message("Asian", None, 11) == (
        "Asian is suppressed; its numbers are withheld."
    )
    data = json.loads(make_report(leaky=True).to_json())
    entry = next(g for g in data["groups"] if g["group"] == SUPPRESSED_GROUP)
    entry["suppression_reason"] = SUPPRESSED_COMPLEMENTARY
    result = next(
        r
        for r in data["policy_results"]
        if r["rule_id"] == "min-group-size" and r["group"] == SUPPRESSED_GROUP
    )
    result["message"] = f"{SUPPRESSED_GROUP} has {LEAKY_N} patients."
    report = Report.from_json(json.dumps(data))
    scrubbed = next(
        r
        for r in report.policy_results
        if r.rule_id == "min-group-size" and r.group == SUPPRESSED_GROUP
    )
    assert scrubbed.message == f"{SUPPRESSED_GROUP}: numbers withheld, {SUPPRESSED_COMPLEMENTARY}."
    assert report.suppression_reasons()[group_key("race", SUPPRESSED_GROUP)] == (
        SUPPRESSED_COMPLEMENTARY
    )
