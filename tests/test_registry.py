"""The audit registry on SQLite: record, history, sign-off, tamper evidence, migrations.

Tampering is done as an attacker would: with raw SQL on the database file, after
removing the append-only triggers. ``tests/test_registry_postgres.py`` runs the
scenarios marked below (those taking ``registry_url``) again on a real PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from auditor.errors import RegistryError
from auditor.judge.engine import count_results, verdict_of
from auditor.registry import Registry, chain, commands, db, records, service
from auditor.registry.models import Base
from reports.model import PolicyResult, Report

MODEL = "sepsis-risk"
FORK = multiprocessing.get_context("fork")
REGISTRY_TABLES = {"log_entries", "audits", "signoffs", "chain_head"}


# -- helpers -----------------------------------------------------------------------------------


def make_report(
    version: str | None = "1.0",
    *,
    verdict: str = "pass",
    model: str | None = MODEL,
    auroc: float = 0.80,
    name: str = "Sepsis audit",
) -> tuple[Report, str]:
    """A small valid report: overall, two measured race groups and one suppressed group."""

    def estimate(value: float) -> dict[str, Any]:
        return {
            "estimate": round(value, 6),
            "ci_low": round(value - 0.05, 6),
            "ci_high": round(value + 0.05, 6),
            "ci_method": "bootstrap",
        }

    def group(attribute: Any, value: Any, n: int, group_auroc: float) -> dict[str, Any]:
        return {
            "attribute": attribute,
            "group": value,
            "n": n,
            "metrics": {
                "auroc": estimate(group_auroc),
                "sensitivity": estimate(0.70),
                "calibration_slope": estimate(0.95),
            },
        }

    data = {
        "name": name,
        "verdict": verdict,
        "model": {
            "name": model,
            "version": version,
            "kind": "score_column",
            "score_column": "score",
        },
        "label": {"column": "sepsis", "positive": 1},
        "threshold": 0.5,
        "thresholds": [0.5],
        "min_cell_size": 11,
        "attributes": [
            {
                "name": "race",
                "groups": ["White", "Black", "Pacific Islander"],
                "reference": "White",
                "suppressed_groups": ["Pacific Islander"],
            }
        ],
        "overall": group([], [], 600, auroc),
        "groups": [
            group("race", "White", 400, auroc + 0.02),
            group("race", "Black", 193, auroc - 0.04),
            {
                "attribute": "race",
                "group": "Pacific Islander",
                "suppressed": True,
                "suppression_reason": "fewer than 11 patients",
            },
        ],
        "explanations": {"status": "not_evaluable", "reason": "scores given as a column"},
        "data_checks": {"rows_total": 600},
        "provenance": {
            "tool": "clinical-fairness-auditor",
            "tool_version": "0.1.0",
            "python": "3.11",
            "platform": "linux",
            "libraries": {},
            "sha256": {
                "data": "d" * 64,
                "spec": "5" * 64,
                "policies": {"clinical-default": "c" * 64},
            },
            "seed": 0,
            "bootstrap_replicates": 200,
            "bootstrap_bins": 100,
            "thresholds": [0.5],
            "generated_at": "2025-03-14T09:30:00Z",
            "spec": {"name": name},
        },
    }
    if verdict != "pass":  # the verdict follows from the report's own results (re-judged)
        result = {
            "policy": "clinical-default",
            "rule_id": "auroc-floor",
            "severity": "block" if verdict == "fail" else "warn",
            "status": "fail",
            "check": "metric",
            "metric": "auroc",
            "attribute": "race",
            "group": "Black",
            "message": "AUROC below the floor",
        }
        data["policy_results"] = [result]
        data["counts"] = count_results([PolicyResult.model_validate(result)]).model_dump()
    report = Report.model_validate(data)
    return report, report.to_json()


def record(registry: Registry, version: str | None, **kwargs: Any) -> int:
    report, text = make_report(version, **kwargs)
    return registry.record(report, report_json=text, ran_by="A. Analyst").audit_id


def populate(registry: Registry) -> None:
    """Entries 1-3: audits 1-3 (releases 1.0 pass, 1.1 warn, 1.2 fail);
    entry 4: audit 1 approved; entry 5: audit 2 rejected. Audit 3 stays unsigned."""
    record(registry, "1.0", verdict="pass", auroc=0.80)
    record(registry, "1.1", verdict="warn", auroc=0.78)
    record(registry, "1.2", verdict="fail", auroc=0.70)
    registry.signoff(
        1, by="Dr B. Chair", role="committee chair", decision="approve", comment="within policy"
    )
    registry.signoff(
        2,
        by="Dr B. Chair",
        role="committee chair",
        decision="reject",
        comment="sensitivity gap for Black patients",
    )


def tamper(url: str, *statements: str, **params: Any) -> None:
    """Edit the database around the registry, as someone with write access could."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":  # drops every guard: append-only and chain-enforcing
            names = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).scalars()
            for name in list(names):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        else:  # disables triggers, the append-only guard and foreign keys alike
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for statement in statements:
            conn.execute(sa.text(statement), params)
    engine.dispose()


def scalar(url: str, query: str) -> Any:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.text(query)).scalar()
    engine.dispose()
    return value


def forged_entry(url: str, seq: int, prev: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A log entry with correct hashes, as a careful forger would compute them."""
    text = chain.canonical_json(payload)
    content = chain.sha256_text(text)
    return {
        "seq": seq,
        "kind": payload["kind"],
        "payload": text,
        "content": content,
        "prev": prev,
        "entry": chain.entry_hash(prev, content),
    }


INSERT_ENTRY = (
    "INSERT INTO log_entries (seq, kind, payload, content_sha256, prev_sha256, entry_sha256) "
    "VALUES (:seq, :kind, :payload, :content, :prev, :entry)"
)


@pytest.fixture
def registry_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def registry(registry_url: str) -> Iterator[Registry]:
    with Registry(registry_url) as opened:
        yield opened


@pytest.fixture
def populated(registry: Registry) -> Registry:
    populate(registry)
    return registry


# -- recording ---------------------------------------------------------------------------------


def test_record_stores_the_report_its_hashes_verdict_and_who(registry: Registry) -> None:
    report, text = make_report("2.3.1", verdict="warn")
    entry = registry.record(
        report, report_json=text, ran_by="A. Analyst", report_dir=Path("/audits/2.3.1")
    )
    assert (entry.audit_id, entry.seq) == (1, 1)
    assert (entry.model_name, entry.model_version, entry.verdict) == (MODEL, "2.3.1", "warn")
    assert entry.ran_by == "A. Analyst"
    assert entry.report_dir == "/audits/2.3.1"
    assert entry.report_sha256 == chain.sha256_text(text)
    assert entry.provenance_sha256 == report.provenance.sha256
    assert entry.generated_at == "2025-03-14T09:30:00Z"
    assert entry.recorded_at.endswith("Z")
    assert registry.report_json(1) == text
    assert registry.audit(1) == entry
    assert registry.models() == [MODEL]


def test_record_names_the_model_after_the_report_when_the_model_has_no_name(
    registry: Registry,
) -> None:
    report, text = make_report(None, model=None, name="ICU readmission audit")
    entry = registry.record(report.model_dump(mode="json"), report_json=text, ran_by="x")
    assert (entry.model_name, entry.model_version) == ("ICU readmission audit", None)
    assert entry.release == "audit 1"


def test_record_refuses_a_duplicate_and_json_that_is_not_the_report(registry: Registry) -> None:
    report, text = make_report("1.0")
    registry.record(report, report_json=text, ran_by="x")
    with pytest.raises(RegistryError) as err:
        registry.record(report, report_json=text, ran_by="x")
    assert str(err.value) == service.MSG_DUPLICATE_REPORT.format(
        sha=chain.sha256_text(text), audit_id=1
    )
    other, _ = make_report("1.0", verdict="fail")
    with pytest.raises(RegistryError) as err:
        registry.record(other, report_json=text, ran_by="x")
    assert str(err.value) == (
        "report_json does not match the report given with it: verdict is 'pass' in the JSON "
        "but 'fail' in the report"
    )
    with pytest.raises(RegistryError) as err:
        registry.record(*make_report("1.1")[:1], report_json=make_report("1.1")[1], ran_by=" ")
    assert str(err.value) == "ran_by must not be empty"
    assert scalar(registry.url, "SELECT count(*) FROM log_entries") == 1


def test_names_longer_than_their_columns_are_refused(registry: Registry) -> None:
    report, text = make_report("1.0", model="m" * 256)
    with pytest.raises(RegistryError) as err:
        registry.record(report, report_json=text, ran_by="x")
    assert str(err.value) == f"model_name is longer than 255 characters: {'m' * 40!r}..."
    record(registry, "1.0")
    with pytest.raises(RegistryError) as err:
        registry.signoff(1, by="Dr B", role="r" * 300, decision="approve")
    assert str(err.value) == f"role is longer than 255 characters: {'r' * 40!r}..."
    assert registry.verify_log().entries == 1


def test_record_dir_validates_the_report_and_tolerates_new_fields(
    registry: Registry, tmp_path: Path
) -> None:
    folder = tmp_path / "audit-out"
    folder.mkdir()
    with pytest.raises(RegistryError) as err:
        registry.record_dir(folder, ran_by="x")
    assert str(err.value) == service.MSG_NO_REPORT_FILE.format(path=folder)

    _, text = make_report("1.0")
    broken = json.loads(text)
    broken["verdict"] = "maybe"
    (folder / "report.json").write_text(json.dumps(broken))
    with pytest.raises(RegistryError) as err:
        registry.record_dir(folder, ran_by="x")
    assert str(err.value) == (
        f"{folder / 'report.json'} is not a valid audit report: at $.verdict: "
        "Input should be 'pass', 'warn' or 'fail'"
    )

    newer = json.loads(text)
    newer["field_from_a_newer_auditor"] = {"x": 1}
    (folder / "report.json").write_text(json.dumps(newer))
    entry = registry.record_dir(folder, ran_by="x")
    assert entry.report_dir == str(folder.resolve())
    assert json.loads(registry.report_json(entry.audit_id))["field_from_a_newer_auditor"]


# -- history and sign-off ----------------------------------------------------------------------


def test_history_lists_releases_in_order_with_verdicts_and_signoff_status(
    registry: Registry,
) -> None:
    for version, verdict in [("1.0", "pass"), ("1.10", "fail"), ("1.9", "warn")]:
        record(registry, version, verdict=verdict)
    registry.signoff(1, by="Dr B", role="chair", decision="approve", comment="")
    registry.signoff(2, by="Dr B", role="chair", decision="reject", comment="gap too wide")
    rows = registry.history(MODEL)
    assert [(r.release, r.verdict, r.signoff_status) for r in rows] == [
        ("1.0", "pass", "approved"),
        ("1.9", "warn", "unsigned"),
        ("1.10", "fail", "rejected"),
    ]
    rejected = rows[2].last_signoff
    assert rejected is not None
    assert (rejected.signed_by, rejected.role, rejected.comment) == (
        "Dr B",
        "chair",
        "gap too wide",
    )
    assert rejected.report_sha256 == chain.sha256_text(registry.report_json(2))


def test_history_falls_back_to_natural_then_recording_order() -> None:
    def rows(*versions: str | None) -> list[str | None]:
        audits = [
            records.AuditEntry(i + 1, i + 1, MODEL, v, "r", "pass", "x", "t", None, "h", {}, None)
            for i, v in enumerate(versions)
        ]
        history = [records.HistoryRow(a, "unsigned", (), ()) for a in audits]
        return [r.audit.model_version for r in sorted(history, key=records.release_key(audits))]

    assert rows("2024-10", "2024-9", "2024-11") == ["2024-9", "2024-10", "2024-11"]
    assert rows("1.0rc1", "1.0", "0.9") == ["0.9", "1.0rc1", "1.0"]
    assert rows("b", None, "a") == ["b", None, "a"]


def test_the_latest_signoff_decides_the_status(registry: Registry) -> None:
    record(registry, "1.0")
    registry.signoff(1, by="Dr B", role="chair", decision="reject", comment="needs review")
    registry.signoff(1, by="Dr B", role="chair", decision="approve", comment="reviewed")
    (row,) = registry.history(MODEL)
    assert row.signoff_status == "approved"
    assert [s.decision for s in row.signoffs] == ["reject", "approve"]
    assert [s.signoff_id for s in registry.signoffs(1)] == [1, 2]


def test_history_shows_key_metrics_per_group_and_suppressed_groups_without_numbers(
    registry: Registry,
) -> None:
    record(registry, "1.0", auroc=0.80)
    (row,) = registry.history(MODEL)
    by_group = {(g.attribute, g.group): g for g in row.groups}
    assert list(by_group) == [
        ("overall", "all"),
        ("race", "White"),
        ("race", "Black"),
        ("race", "Pacific Islander"),
    ]
    white = by_group[("race", "White")]
    assert white.n == 400
    assert white.metrics["auroc"] == records.MetricValue(0.82, 0.77, 0.87, None)
    assert set(white.metrics) == {"auroc", "sensitivity", "calibration_slope"}
    hidden = by_group[("race", "Pacific Islander")]
    assert (hidden.suppressed, hidden.n, hidden.metrics) == (True, None, {})
    (only_auroc,) = registry.history(MODEL, metrics=["auroc"])
    assert set(only_auroc.groups[0].metrics) == {"auroc"}


def test_history_of_a_realistic_report_names_intersections_and_hides_suppressed(
    registry: Registry,
) -> None:
    from report_factory import SUPPRESSED_GROUP, WITHHELD_GROUP
    from report_factory import make_report as factory_report

    report = factory_report()
    results = report.policy_results  # record re-judges: the summary must follow from them
    report = report.model_copy(
        update={"counts": count_results(results), "verdict": verdict_of(results)}
    )
    registry.record(report, report_json=report.to_json(), ran_by="x")
    (row,) = registry.history(report.model.name or report.name)
    by_group = {(g.attribute, g.group): g for g in row.groups}
    assert ("race × sex", "White × Female") in by_group
    assert by_group[("race", SUPPRESSED_GROUP)].metrics == {}
    withheld = by_group[("race", WITHHELD_GROUP)]
    assert withheld.label_metrics_withheld and "auroc" not in withheld.metrics
    text = commands.format_history([row], ["auroc"])
    lines = text.splitlines()
    assert next(x for x in lines if f" {WITHHELD_GROUP} " in x).split()[-1] == "withheld"
    assert next(x for x in lines if f" {SUPPRESSED_GROUP} " in x).endswith(" suppressed")
    # 'suppressed' also covers groups hidden to protect a smaller one, which may be large.
    assert commands.HISTORY_LEGEND in text
    assert "smaller group's size" in commands.HISTORY_LEGEND
    assert "suppressed = fewer patients than" not in text


def test_history_of_an_unknown_model_lists_the_known_ones(registry: Registry) -> None:
    record(registry, "1.0")
    with pytest.raises(RegistryError) as err:
        registry.history("sepsis")
    assert str(err.value) == (
        f"no audits of model 'sepsis' in the registry at {registry.display_url}; "
        f"recorded models: {MODEL}"
    )


def test_signoff_checks_its_input(registry: Registry) -> None:
    record(registry, "1.0")
    cases = [
        (
            {"audit_id": 9, "decision": "approve"},
            service.MSG_UNKNOWN_AUDIT.format(audit_id=9, url=registry.display_url),
        ),
        (
            {"audit_id": 1, "decision": "maybe"},
            "decision must be 'approve' or 'reject', got 'maybe'",
        ),
        ({"audit_id": 1, "decision": "reject"}, "a rejection needs a comment saying why"),
        ({"audit_id": 1, "decision": "approve", "by": ""}, "by must not be empty"),
    ]
    for kwargs, message in cases:
        args: dict[str, Any] = {"by": "Dr B", "role": "chair", "comment": "", **kwargs}
        with pytest.raises(RegistryError) as err:
            registry.signoff(args.pop("audit_id"), **args)
        assert str(err.value) == message
    assert registry.verify_log().entries == 1


# -- tamper evidence ---------------------------------------------------------------------------


def test_verify_log_on_an_intact_chain(populated: Registry) -> None:
    result = populated.verify_log()
    assert result == records.VerifyResult(
        ok=True,
        entries=5,
        first_bad=None,
        problem=None,
        problems=(),
        head_sha256=scalar(populated.url, "SELECT entry_sha256 FROM log_entries WHERE seq = 5"),
    )
    assert populated.verify_log(expect_head=result.head_sha256).ok


def test_the_database_refuses_to_update_or_delete_log_rows(populated: Registry) -> None:
    engine = sa.create_engine(populated.url)
    for statement in (
        "UPDATE log_entries SET kind = 'audit' WHERE seq = 4",
        "DELETE FROM signoffs WHERE id = 1",
        "UPDATE audits SET verdict = 'pass' WHERE id = 3",
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    engine.dispose()
    assert populated.verify_log().ok


ENTRY_3 = "entry 3 (audit 3 of sepsis-risk 1.2)"

TAMPERING = {
    "log entry edited": (
        [
            'UPDATE log_entries SET payload = replace(payload, \'"verdict":"fail"\', '
            '\'"verdict":"pass"\') WHERE seq = 3'
        ],
        3,
        [f"{ENTRY_3} was altered: its content hash does not match"],
    ),
    "typed audit row edited": (
        ["UPDATE audits SET verdict = 'pass' WHERE id = 3"],
        3,
        [
            "audit 3 (entry 3) was altered in the audits table: verdict is 'pass' there but "
            "'fail' in the log"
        ],
    ),
    "typed sign-off row edited": (
        ["UPDATE signoffs SET decision = 'approve' WHERE id = 2"],
        5,
        [
            "sign-off 2 (entry 5) was altered in the signoffs table: decision is 'approve' "
            "there but 'reject' in the log"
        ],
    ),
    "entry deleted": (
        ["DELETE FROM signoffs WHERE id = 1", "DELETE FROM log_entries WHERE seq = 4"],
        4,
        ["entry 4 was deleted: the log jumps from entry 3 to entry 5"],
    ),
    "last entry deleted": (
        ["DELETE FROM signoffs WHERE id = 2", "DELETE FROM log_entries WHERE seq = 5"],
        5,
        ["entry 5 was deleted: the log ends at entry 4 but the registry wrote up to entry 5"],
    ),
    "typed row deleted": (
        ["DELETE FROM signoffs WHERE id = 2"],
        5,
        ["sign-off 2 (entry 5) was deleted from the signoffs table"],
    ),
    "typed row inserted": (
        [
            "INSERT INTO signoffs (id, log_seq, audit_id, signed_by, role, decision, comment, "
            "signed_at, report_sha256) SELECT 3, 99, 3, 'Dr X', 'chair', 'approve', '', "
            "'2025-01-01T00:00:00Z', report_sha256 FROM audits WHERE id = 3"
        ],
        None,
        [
            "sign-off 3 is in the signoffs table but not in the log: it was added outside "
            "the registry"
        ],
    ),
    "report changed after sign-off": (
        [
            'UPDATE audits SET report_json = replace(report_json, \'"verdict": "pass"\', '
            '\'"verdict": "fail"\') WHERE id = 1'
        ],
        1,
        [
            "the report of audit 1 (entry 1) was changed after it was recorded: its SHA-256 "
            "no longer matches the log",
            "the report of audit 1 was changed after sign-off 1 (entry 4) approved it: the "
            "signed report hash no longer matches the stored report",
        ],
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_verify_log_finds_each_kind_of_tampering(
    populated: Registry, registry_url: str, case: str
) -> None:
    statements, first_bad, problems = TAMPERING[case]
    tamper(registry_url, *statements)
    result = populated.verify_log()
    assert (result.ok, result.first_bad, result.problem) == (False, first_bad, problems[0])
    assert list(result.problems) == problems


def test_verify_log_finds_an_entry_edited_with_its_content_hash_recomputed(
    populated: Registry, registry_url: str
) -> None:
    payload = json.loads(scalar(registry_url, "SELECT payload FROM log_entries WHERE seq = 3"))
    payload["verdict"] = "pass"
    text = chain.canonical_json(payload)
    tamper(
        registry_url,
        "UPDATE log_entries SET payload = :p, content_sha256 = :c WHERE seq = 3",
        p=text,
        c=chain.sha256_text(text),
    )
    tamper(registry_url, "UPDATE audits SET verdict = 'pass' WHERE id = 3")
    result = populated.verify_log()
    assert result.problems == (
        f"{ENTRY_3} was altered: its entry hash does not match its content and link",
        "audit 3 (entry 3): its log entry says verdict is 'pass' but the recorded report says "
        "'fail'",
    )


def test_verify_log_finds_a_forged_entry_appended_with_valid_hashes(
    populated: Registry, registry_url: str
) -> None:
    head = scalar(registry_url, "SELECT entry_sha256 FROM log_entries WHERE seq = 5")
    sha3 = scalar(registry_url, "SELECT report_sha256 FROM audits WHERE id = 3")
    forged = forged_entry(
        registry_url,
        6,
        head,
        {
            "kind": "signoff",
            "seq": 6,
            "signoff_id": 3,
            "audit_id": 3,
            "signed_by": "Dr X",
            "role": "chair",
            "decision": "approve",
            "comment": "",
            "signed_at": "2025-01-01T00:00Z",
            "report_sha256": sha3,
        },
    )
    tamper(registry_url, INSERT_ENTRY, **forged)
    tamper(
        registry_url,
        "INSERT INTO signoffs (id, log_seq, audit_id, signed_by, role, "
        "decision, comment, signed_at, report_sha256) VALUES (3, 6, 3, 'Dr X', 'chair', "
        "'approve', '', '2025-01-01T00:00Z', :sha)",
        sha=sha3,
    )
    result = populated.verify_log()
    assert result.problems == (
        "entry 6 (signoff of audit 3) was inserted after entry 5, the last one the registry wrote",
    )
    (row,) = [r for r in populated.history(MODEL) if r.audit_id == 3]
    assert row.signoff_status == "approved"  # the forgery shows in history, and verify flags it
    with pytest.raises(RegistryError) as err:
        record(populated, "1.3")
    assert str(err.value) == service.MSG_TAIL_MOVED.format(url=populated.display_url, seq=5)
    assert scalar(registry_url, "SELECT count(*) FROM audits") == 3


def test_verify_log_finds_an_entry_inserted_in_the_middle(
    populated: Registry, registry_url: str
) -> None:
    prev = scalar(registry_url, "SELECT entry_sha256 FROM log_entries WHERE seq = 3")
    sha3 = scalar(registry_url, "SELECT report_sha256 FROM audits WHERE id = 3")
    forged = forged_entry(
        registry_url,
        4,
        prev,
        {
            "kind": "signoff",
            "seq": 4,
            "signoff_id": 3,
            "audit_id": 3,
            "signed_by": "Dr X",
            "role": "chair",
            "decision": "approve",
            "comment": "",
            "signed_at": "2025-01-01T00:00Z",
            "report_sha256": sha3,
        },
    )
    last = scalar(registry_url, "SELECT entry_sha256 FROM log_entries WHERE seq = 5")
    tamper(
        registry_url,
        "UPDATE log_entries SET seq = seq + 1000 WHERE seq >= 4",
        "UPDATE log_entries SET seq = seq - 999 WHERE seq >= 1000",
        "UPDATE signoffs SET log_seq = log_seq + 1000",
        "UPDATE signoffs SET log_seq = log_seq - 999",
        INSERT_ENTRY,
        "INSERT INTO signoffs (id, log_seq, audit_id, signed_by, role, decision, comment, "
        "signed_at, report_sha256) VALUES (3, 4, 3, 'Dr X', 'chair', 'approve', '', "
        "'2025-01-01T00:00Z', :sha)",
        "UPDATE chain_head SET seq = 6",
        sha=sha3,
        **forged,
    )
    result = populated.verify_log()
    assert scalar(registry_url, "SELECT entry_sha256 FROM chain_head") == last
    assert result.first_bad == 4
    assert list(result.problems) == [
        "entry 4 (signoff of audit 3) was inserted: entry 5 links to entry 3, the one before it",
        "entry 5 (signoff of audit 1) was altered: its content says it is entry 4 (signoff)",
        "entry 6 (signoff of audit 2) was altered: its content says it is entry 5 (signoff)",
    ]


def test_a_rewritten_chain_is_caught_by_a_published_head(
    populated: Registry, registry_url: str
) -> None:
    published = populated.verify_log().head_sha256
    engine = sa.create_engine(registry_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, payload FROM log_entries ORDER BY seq")).all()
    engine.dispose()
    prev, statements, params = chain.GENESIS_SHA256, [], dict[str, str]()
    for seq, payload in rows:  # the forger changes who ran the audits and rehashes everything
        text = payload.replace('"ran_by":"A. Analyst"', '"ran_by":"Dr Z"')
        content = chain.sha256_text(text)
        prev = chain.entry_hash(prev, content)
        statements.append(
            f"UPDATE log_entries SET payload = :p{seq}, content_sha256 = :c{seq},"
            f" prev_sha256 = :v{seq}, entry_sha256 = :e{seq} WHERE seq = {seq}"
        )
        params |= {f"p{seq}": text, f"c{seq}": content, f"e{seq}": prev}
    for seq in range(1, len(rows) + 1):
        params[f"v{seq}"] = chain.GENESIS_SHA256 if seq == 1 else params[f"e{seq - 1}"]
    statements += [
        "UPDATE audits SET ran_by = 'Dr Z'",
        "UPDATE chain_head SET entry_sha256 = :e5",
    ]
    tamper(registry_url, *statements, **params)
    assert populated.verify_log().ok  # no chain detects a full rewrite by itself ...
    result = populated.verify_log(expect_head=published)
    assert result.problems == (  # ... a head published before it does
        f"the published head {published} is not in the log: the log was rewritten after it "
        "was published",
    )
    assert result.first_bad is None


def test_signoff_refuses_a_report_changed_since_it_was_recorded(
    populated: Registry, registry_url: str
) -> None:
    tamper(registry_url, "UPDATE audits SET report_json = report_json || ' ' WHERE id = 3")
    with pytest.raises(RegistryError) as err:
        populated.signoff(3, by="Dr B", role="chair", decision="approve")
    assert str(err.value) == service.MSG_SIGN_CHANGED_REPORT.format(audit_id=3)


def test_check_chain_names_deleted_runs_of_entries() -> None:
    entries, prev = [], chain.GENESIS_SHA256
    for seq in range(1, 6):
        text = chain.canonical_json({"kind": "audit", "seq": seq, "audit_id": seq})
        content = chain.sha256_text(text)
        link = chain.entry_hash(prev, content)
        entries.append(chain.ChainEntry(seq, "audit", text, content, prev, link))
        prev = link
    assert chain.check_chain(entries) == (5, prev, [])
    assert chain.check_chain([]) == (0, chain.GENESIS_SHA256, [])

    def messages(kept: list[int]) -> list[str]:
        return [p.message for p in chain.check_chain([entries[i - 1] for i in kept])[2]]

    assert messages([2, 3, 4, 5]) == ["entry 1 was deleted: the log starts at entry 2"]
    assert messages([3, 4, 5]) == ["entries 1 to 2 were deleted: the log starts at entry 3"]
    assert messages([1, 4, 5]) == [
        "entries 2 to 3 were deleted: the log jumps from entry 1 to entry 4"
    ]


# -- concurrency and failure -------------------------------------------------------------------

WORKERS = 3
RECORDS_PER_WORKER = 4


def _record_many(url: str, worker: int, barrier: Any) -> None:
    """One process: open the registry (migrating a new database) and record in a loop."""
    barrier.wait(timeout=60)
    with Registry(url) as registry:
        for i in range(RECORDS_PER_WORKER):
            report, text = make_report(f"{i}.0", model=f"model-{worker}", auroc=0.7 + i / 100)
            entry = registry.record(report, report_json=text, ran_by=f"worker {worker}")
            if i % 2:
                registry.signoff(
                    entry.audit_id, by=f"worker {worker}", role="reviewer", decision="approve"
                )


def test_parallel_processes_record_in_turn_and_keep_the_chain_valid(registry_url: str) -> None:
    barrier = FORK.Barrier(WORKERS)
    processes = [
        FORK.Process(target=_record_many, args=(registry_url, w, barrier)) for w in range(WORKERS)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * WORKERS
    with Registry(registry_url) as registry:
        result = registry.verify_log()
        signoffs_per_worker = RECORDS_PER_WORKER // 2
        assert (result.ok, result.entries) == (
            True,
            WORKERS * (RECORDS_PER_WORKER + signoffs_per_worker),
        )
        for w in range(WORKERS):
            rows = registry.history(f"model-{w}")
            assert [r.release for r in rows] == [f"{i}.0" for i in range(RECORDS_PER_WORKER)]
            assert [r.signoff_status for r in rows] == ["unsigned", "approved"] * 2
    seqs = scalar(registry_url, "SELECT count(DISTINCT seq) FROM log_entries")
    assert seqs == scalar(registry_url, "SELECT max(seq) FROM log_entries") == result.entries


class DiskFull(Exception):
    pass


def test_a_failure_mid_record_leaves_no_half_entry(
    populated: Registry, registry_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = scalar(registry_url, "SELECT entry_sha256 FROM chain_head")

    def fail(*args: Any) -> None:
        raise DiskFull("after the log entry, before the audit row")

    monkeypatch.setattr(service, "_insert_audit_row", fail)
    with pytest.raises(DiskFull):
        record(populated, "1.3")
    assert scalar(registry_url, "SELECT count(*) FROM log_entries") == 5
    assert scalar(registry_url, "SELECT entry_sha256 FROM chain_head") == head
    monkeypatch.undo()
    assert record(populated, "1.3") == 4
    assert populated.verify_log().ok


def _die_mid_record(url: str) -> None:
    def die(*args: Any) -> None:
        os._exit(9)  # the process vanishes inside the transaction, holding the write lock

    service._insert_audit_row = die  # type: ignore[assignment]
    with Registry(url) as registry:
        record(registry, "9.9")


def test_a_process_killed_mid_record_leaves_no_half_entry(
    populated: Registry, registry_url: str
) -> None:
    child = FORK.Process(target=_die_mid_record, args=(registry_url,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 9
    assert scalar(registry_url, "SELECT count(*) FROM log_entries") == 5
    assert record(populated, "1.3") == 4
    assert populated.verify_log().ok


# -- migrations and locations ------------------------------------------------------------------


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_migrations_from_an_empty_database_up_and_down(registry_url: str) -> None:
    engine = db.make_engine(registry_url)
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert _tables(engine) >= REGISTRY_TABLES
    with engine.connect() as conn:  # the migrations build exactly what models.py declares
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    db.downgrade(engine, "base")
    assert db.current_revision(engine) is None
    assert not REGISTRY_TABLES & _tables(engine)
    db.upgrade(engine)
    engine.dispose()
    with Registry(registry_url) as registry:
        record(registry, "1.0")
        assert registry.verify_log().ok


def test_a_database_from_a_newer_auditor_is_refused(registry_url: str) -> None:
    Registry(registry_url).close()
    tamper(registry_url, "UPDATE alembic_version SET version_num = 'f00d'")
    with pytest.raises(RegistryError) as err:
        Registry(registry_url)
    assert str(err.value) == db.MSG_NEWER_SCHEMA.format(
        url=db.display_url(registry_url), revision="f00d"
    )


def test_registry_location_default_env_and_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(db.ENV_REGISTRY, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    default = tmp_path / "data" / "clinical-fairness-auditor" / "registry.db"
    assert db.resolve_url() == f"sqlite:///{default}"
    assert default.parent.is_dir()
    monkeypatch.setenv(db.ENV_REGISTRY, str(tmp_path / "team.db"))
    assert db.resolve_url() == f"sqlite:///{tmp_path / 'team.db'}"
    assert db.resolve_url("sqlite:///:memory:") == "sqlite:///:memory:"
    monkeypatch.chdir(tmp_path)
    assert db.resolve_url("local.db") == f"sqlite:///{tmp_path / 'local.db'}"
    monkeypatch.delenv(db.ENV_REGISTRY)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "file"))
    with pytest.raises(RegistryError) as err:
        db.resolve_url()
    assert str(err.value) == (
        f"cannot create the registry folder {tmp_path / 'file' / 'clinical-fairness-auditor'} "
        "(Not a directory): give --registry or set AUDITOR_REGISTRY"
    )


def test_unusable_registry_urls_say_what_to_give(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "r.db"
    with pytest.raises(RegistryError) as err:
        Registry(str(missing))
    assert str(err.value) == (
        f"cannot create the registry {missing}: the folder {missing.parent} does not exist"
    )
    with pytest.raises(RegistryError) as err:
        Registry("nosuchdb://host/x")
    assert str(err.value) == (
        "cannot use the registry URL 'nosuchdb://host/x': Can't load plugin: "
        "sqlalchemy.dialects:nosuchdb. Give a SQLite file path, sqlite:///PATH or "
        "postgresql+psycopg://USER@HOST:PORT/DB"
    )
    with pytest.raises(RegistryError) as err:
        Registry("postgresql+psycopg://auditor:secret@127.0.0.1:1/registry")
    assert str(err.value).startswith(
        "cannot open the registry at postgresql+psycopg://auditor:***@127.0.0.1:1/registry: "
    )
    assert "secret" not in str(err.value)


# -- command line ------------------------------------------------------------------------------


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="auditor")
    commands.add_registry_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_cli_record_history_signoff_and_verify(
    registry_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for version, verdict in [("1.0", "pass"), ("1.1", "fail")]:
        folder = tmp_path / f"audit-{version}"
        folder.mkdir()
        (folder / "report.json").write_text(make_report(version, verdict=verdict)[1])
        assert (
            _cli("record", str(folder), "--ran-by", "A. Analyst", "--registry", registry_url) == 0
        )
    out = capsys.readouterr().out
    assert out.splitlines()[1] == (
        f"recorded audit 2: {MODEL} 1.1, verdict fail, log entry 2 (registry: {registry_url})"
    )
    assert (
        _cli(
            "signoff",
            "2",
            "--by",
            "Dr B",
            "--role",
            "chair",
            "--decision",
            "reject",
            "--comment",
            "sensitivity gap",
            "--registry",
            registry_url,
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("audit 2 rejected by Dr B (chair); report SHA-256 ")

    assert _cli("history", MODEL, "--registry", registry_url) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{MODEL}: 2 audit(s) in release order (registry: {registry_url})"
    assert lines[2].split() == ["audit", "release", "recorded", "verdict", "sign-off"]
    assert lines[3].split()[:2] == ["1", "1.0"] and lines[3].endswith("pass     unsigned")
    assert lines[4].split()[:2] == ["2", "1.1"] and "fail     rejected by Dr B (chair) " in lines[4]
    assert lines[4].endswith(': "sensitivity gap"')
    table = {tuple(line.split()[:4]): line for line in lines[9:]}
    assert table[("1", "1.0", "race", "White")].split()[4:7] == ["400", "0.820", "[0.770,"]
    assert table[("2", "1.1", "race", "Pacific")].split()[4:] == ["Islander", "suppressed"]

    assert _cli("history", MODEL, "--json", "--metrics", "auroc", "--registry", registry_url) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["signoff_status"] for d in data] == ["unsigned", "rejected"]
    assert list(data[0]["groups"][0]["metrics"]) == ["auroc"]

    assert _cli("verify-log", "--registry", registry_url) == 0
    assert capsys.readouterr().out.startswith("log intact: 3 entries\nhead: ")
    tamper(registry_url, "UPDATE audits SET verdict = 'pass' WHERE id = 2")
    assert _cli("verify-log", "--registry", registry_url) == 1
    assert capsys.readouterr().out == (
        "log TAMPERED: audit 2 (entry 2) was altered in the audits table: verdict is 'pass' "
        f"there but 'fail' in the log\n{commands.MSG_TRUST_NONE}\n"
    )


def test_cli_bad_input_raises_registry_errors(registry_url: str, tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as err:
        _cli(
            "signoff",
            "4",
            "--by",
            "B",
            "--role",
            "chair",
            "--decision",
            "approve",
            "--registry",
            registry_url,
        )
    assert str(err.value) == service.MSG_UNKNOWN_AUDIT.format(audit_id=4, url=registry_url)
    with pytest.raises(RegistryError) as err:
        _cli("record", str(tmp_path), "--registry", registry_url)
    assert str(err.value) == service.MSG_NO_REPORT_FILE.format(path=tmp_path)
    with pytest.raises(RegistryError) as err:
        _cli("history", MODEL, "--metrics", ",", "--registry", registry_url)
    assert str(err.value) == commands.MSG_BAD_METRICS


def test_cli_help_of_each_registry_command_has_an_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("record", "history", "signoff", "verify-log"):
        with pytest.raises(SystemExit):
            _cli(command, "--help")
        out = capsys.readouterr().out
        assert "example:\n  auditor " + command in out
        assert "--registry URL" in out


def test_the_auditor_command_runs_the_registry_subcommands(
    populated: Registry, registry_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditor.cli import main

    assert main(["verify-log", "--registry", registry_url]) == 0
    assert (
        main(
            [
                "signoff",
                "7",
                "--by",
                "B",
                "--role",
                "r",
                "--decision",
                "approve",
                "--registry",
                registry_url,
            ]
        )
        == 2
    )
    assert capsys.readouterr().err == (
        "error: " + service.MSG_UNKNOWN_AUDIT.format(audit_id=7, url=registry_url) + "\n"
    )


# -- dashboard ---------------------------------------------------------------------------------


def test_history_frames_for_the_dashboard(populated: Registry) -> None:
    from auditor import dashboard_history as view

    rows = populated.history(MODEL)
    audits = view.audits_frame(rows)
    assert audits[["audit", "release", "verdict", "sign-off"]].values.tolist() == [
        [1, "1.0", "pass", "approved"],
        [2, "1.1", "warn", "rejected"],
        [3, "1.2", "fail", "unsigned"],
    ]
    assert view.attributes_of(rows) == ["overall", "race"]
    trend = view.trend_frame(rows, "auroc", "race")
    assert trend[["release", "group", "estimate"]].values.tolist() == [
        ["1.0", "White", 0.82],
        ["1.0", "Black", 0.76],
        ["1.1", "White", 0.80],
        ["1.1", "Black", 0.74],
        ["1.2", "White", 0.72],
        ["1.2", "Black", 0.66],
    ]
    assert "Pacific Islander" not in set(trend["group"])
    assert view.suppressed_groups(rows, "race") == ["Pacific Islander"]


def _history_page(url: str) -> None:
    import streamlit as st

    from auditor.dashboard_history import render_history_view
    from auditor.registry import Registry

    with Registry(url) as registry:
        render_history_view(st, registry)


@pytest.mark.slow
def test_dashboard_history_view_shows_history_and_signs_off(populated: Registry) -> None:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(_history_page, kwargs={"url": populated.url}, default_timeout=60)
    app.run()
    assert not app.exception
    assert app.table[0].value["sign-off"].tolist() == ["approved", "rejected", "unsigned"]
    assert len(app.get("vega_lite_chart")) == 3  # one trend chart per key metric
    app.selectbox(key="history_signoff_audit").select(3)
    app.text_input(key="history_signoff_by").input("Dr C")
    app.text_input(key="history_signoff_role").input("ethicist")
    app.radio(key="history_signoff_decision").set_value("approve")
    next(b for b in app.button if b.label == "Sign off").click()
    app.run()
    verdict = populated.history(populated.models()[0])[-1].verdict
    assert verdict == "fail"  # approving it needs written conditions
    assert [e.value for e in app.error] == [
        service.MSG_APPROVE_NEEDS_CONDITIONS.format(audit_id=3, verdict=verdict)
    ]
    app.text_area(key="history_signoff_comment").input("Only with a second reader.")
    next(b for b in app.button if b.label == "Sign off").click()
    app.run()
    assert not app.exception
    assert app.success[0].value.startswith("Audit 3 approved by Dr C (local, not authenticated);")
    entry = populated.signoffs(3)[-1]
    assert entry.authenticated is False and entry.signer_subject is None
    assert app.table[0].value["sign-off"].tolist() == ["approved", "rejected", "approved"]
    next(b for b in app.button if b.label == "Verify the log").click()
    app.run()
    assert app.success[-1].value.startswith("The log is intact: 6 entries")


def test_history_shows_the_key_metrics_of_each_reports_task(registry: Registry, tmp_path) -> None:
    """A regression model's history defaults to the regression task's key metrics, not
    the binary ones; the CLI's columns follow."""
    from auditor.tasks import task_hints

    _, text = make_report("2.0", model="los-model")
    data = json.loads(text)
    data["task"] = "regression"
    data["label"] = {"column": "los_days"}
    value = {"estimate": 1.5, "ci_low": 1.0, "ci_high": 2.0, "ci_method": "bootstrap"}
    for g in [data["overall"], *data["groups"]]:
        if not g.get("suppressed"):
            g["metrics"] = {m: dict(value) for m in ("mae", "mean_error", "r2", "rmse")}
    report = Report.model_validate(data)
    registry.record(report, report_json=json.dumps(data), ran_by="x")
    (row,) = registry.history("los-model")
    wanted = task_hints("regression").chart_metrics
    shown = [g for g in row.groups if not g.suppressed]
    assert shown and all(tuple(g.metrics) == wanted for g in shown)
    from auditor.registry.report_facts import history_metrics

    assert history_metrics([row]) == list(wanted)
    (binary,) = registry.history("los-model", metrics=["rmse"])
    assert all(tuple(g.metrics) == ("rmse",) for g in binary.groups if not g.suppressed)
