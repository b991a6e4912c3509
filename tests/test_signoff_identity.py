"""Sign-offs say who signed as the login proved it, or that nobody proved it."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_registry import make_report

from auditor.errors import RegistryError
from auditor.registry import Registry, db, service


def _record(registry: Registry, version: str, verdict: str) -> int:
    report, text = make_report(version, verdict=verdict)
    return registry.record(report, report_json=text, ran_by="ci").audit_id


def test_an_authenticated_signoff_carries_issuer_and_subject(tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        audit = _record(registry, "1.0", "pass")
        entry = registry.signoff(
            audit,
            by="Dr A. Chen",
            role="approver",
            decision="approve",
            issuer="https://login.example",
            subject="00u1",
        )
        (stored,) = registry.signoffs(audit)
        assert registry.verify_log().ok
    assert stored == entry
    assert (stored.signer_issuer, stored.signer_subject, stored.authenticated) == (
        "https://login.example",
        "00u1",
        True,
    )
    assert stored.signer == "Dr A. Chen [00u1 at https://login.example]"


def test_a_typed_name_is_recorded_as_not_authenticated(tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        audit = _record(registry, "1.0", "pass")
        entry = registry.signoff(audit, by="Dr B", role="chair", decision="approve")
    assert entry.authenticated is False and entry.signer_subject is None
    assert entry.signer == "Dr B (local, not authenticated)"


def test_an_identity_needs_both_issuer_and_subject(tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        audit = _record(registry, "1.0", "pass")
        with pytest.raises(RegistryError) as err:
            registry.signoff(audit, by="X", role="r", decision="approve", subject="00u1")
    assert str(err.value) == service.MSG_IDENTITY_INCOMPLETE


@pytest.mark.parametrize("verdict", ["fail", "undecided"])
def test_approving_an_audit_that_did_not_pass_needs_conditions(
    tmp_path: Path, verdict: str
) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        audit = _record(registry, "1.0", "fail")
        if verdict == "undecided":  # as issue 12's verdict may read; the rule is "not a pass"
            import sqlalchemy as sa

            with registry.engine.begin() as conn:
                conn.execute(sa.text("DROP TRIGGER IF EXISTS audits_no_update"))
                conn.execute(sa.text("UPDATE audits SET verdict = 'undecided'"))
        with pytest.raises(RegistryError) as err:
            registry.signoff(audit, by="X", role="r", decision="approve", comment="  ")
        assert str(err.value) == service.MSG_APPROVE_NEEDS_CONDITIONS.format(
            audit_id=audit, verdict=verdict
        )
        entry = registry.signoff(
            audit, by="X", role="r", decision="approve", comment="Pilot ward only."
        )
    assert entry.comment == "Pilot ward only."


def test_a_registry_from_before_keeps_its_signoffs_and_gains_identity(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine, "0001")
    assert db.current_revision(engine) == "0001"
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()  # 0002 (identity), then 0003
    engine.dispose()
    with Registry(url) as registry:
        audit = _record(registry, "1.0", "pass")
        registry.signoff(audit, by="Dr B", role="chair", decision="approve")
        assert registry.verify_log().ok
        assert registry.signoffs(audit)[0].authenticated is False
