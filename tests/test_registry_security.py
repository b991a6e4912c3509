"""Registry security: the database enforces the chain; signatures and published heads catch
what it cannot.

Two attackers are played. One has ordinary write access to the database (INSERT,
UPDATE, DELETE) but the triggers stay: the database itself refuses any append that
does not follow the head and any other move of the head. The other can drop
triggers (``tamper``): then signatures (with trusted keys) catch forged entries
without any external record, and a signed head statement catches a rewritten,
truncated or replaced log. ``tests/test_registry_postgres.py`` runs every test
here that takes ``registry_url`` again on a real PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_registry import INSERT_ENTRY, MODEL, forged_entry, make_report, scalar, tamper

from auditor import cli
from auditor.errors import RegistryError, SignatureError
from auditor.registry import Registry, chain, commands, service, verify
from auditor.registry.records import HeadStatement, SignerIdentity
from auditor.safe_text import escape_control
from auditor.signing import SIGNATURE_SUFFIX, generate_key, key_id, load_private_key, sign

CHEN = {"signed_by": "Dr A. Chen", "role": "CMIO", "decision": "approve", "comment": ""}


@pytest.fixture
def registry_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def chair() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def trust(*keys: Ed25519PrivateKey) -> dict[str, Any]:
    return {key_id(k.public_key()): k.public_key() for k in keys}


def signed_record(registry: Registry, key: Ed25519PrivateKey, version: str, **kw: Any) -> int:
    report, text = make_report(version, **kw)
    signature = sign(text.encode("utf-8"), key)
    return registry.record(
        report, report_json=text, ran_by="A. Analyst", signature=signature
    ).audit_id


@pytest.fixture
def signed(registry_url: str, chair: Ed25519PrivateKey) -> Iterator[Registry]:
    """Entries 1-2: signed audits 1 (pass) and 2 (fail); entry 3: audit 2 rejected, signed."""
    with Registry(registry_url, trusted_keys=trust(chair)) as registry:
        signed_record(registry, chair, "1.0")
        signed_record(registry, chair, "1.1", verdict="fail")
        registry.signoff(
            2, by="Dr B. Chair", role="chair", decision="reject", comment="gap", signer=chair
        )
        yield registry


def head(url: str) -> tuple[int, str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT seq, entry_sha256 FROM chain_head")).one()
    engine.dispose()
    return row.seq, row.entry_sha256


def run_sql(url: str, statement: str, **params: Any) -> None:
    """One statement with ordinary write access: the triggers stay in place."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement), params)
    finally:
        engine.dispose()


def chen_signoff(url: str, seq: int, prev: str, **extra: Any) -> dict[str, Any]:
    """The forged approval of audit 2 by Dr A. Chen (CMIO), correctly linked."""
    sha = scalar(url, "SELECT report_sha256 FROM audits WHERE id = 2")
    payload = {
        "kind": "signoff",
        "seq": seq,
        "signoff_id": 99,
        "audit_id": 2,
        "signed_at": "2026-01-01T00:00:00Z",
        "report_sha256": sha,
        **CHEN,
        **extra,
    }
    return forged_entry(url, seq, prev, payload)


def append_chen(url: str, **extra: Any) -> None:
    seq, prev = head(url)
    forged = chen_signoff(url, seq + 1, prev, **extra)
    run_sql(url, INSERT_ENTRY, **forged)
    run_sql(
        url,
        "INSERT INTO signoffs (id, log_seq, audit_id, signed_by, role, decision, comment, "
        "signed_at, report_sha256) VALUES (99, :seq, 2, 'Dr A. Chen', 'CMIO', 'approve', '', "
        "'2026-01-01T00:00:00Z', (SELECT report_sha256 FROM audits WHERE id = 2))",
        seq=seq + 1,
    )


# -- what the database itself refuses ----------------------------------------------------------


def test_the_database_refuses_an_append_that_does_not_follow_the_head(
    signed: Registry, registry_url: str
) -> None:
    seq, prev = head(registry_url)
    wrong_prev = chen_signoff(registry_url, seq + 1, "f" * 64)
    gap = chen_signoff(registry_url, seq + 2, prev)
    for forged in (wrong_prev, gap):
        with pytest.raises(sa.exc.DatabaseError, match="must follow the chain head"):
            run_sql(registry_url, INSERT_ENTRY, **forged)
    assert head(registry_url) == (seq, prev)
    assert signed.verify_log().ok


def test_the_chain_head_moves_only_by_an_append(signed: Registry, registry_url: str) -> None:
    first = scalar(registry_url, "SELECT entry_sha256 FROM log_entries WHERE seq = 1")
    for statement in (
        "UPDATE chain_head SET seq = 1, entry_sha256 = :first",  # truncate the tail's head
        "UPDATE chain_head SET seq = seq + 1",
        "DELETE FROM chain_head",
        "INSERT INTO chain_head (id, seq, entry_sha256) VALUES (2, 0, :first)",
    ):
        with pytest.raises(sa.exc.DatabaseError, match="chain_head moves only"):
            run_sql(registry_url, statement, first=first)
    assert signed.verify_log().ok


def test_a_typed_row_can_only_be_added_with_its_entry(signed: Registry, registry_url: str) -> None:
    with pytest.raises(sa.exc.DatabaseError, match="only be added for the entry just appended"):
        run_sql(
            registry_url,
            "INSERT INTO signoffs (id, log_seq, audit_id, signed_by, role, decision, comment, "
            "signed_at, report_sha256) SELECT 7, 1, 1, 'Dr X', 'chair', 'approve', '', "
            "'2026-01-01T00:00:00Z', report_sha256 FROM audits WHERE id = 1",
        )


# -- an append with ordinary write access ---------------------------------------------------


def test_an_append_without_trusted_keys_is_caught_only_by_a_head_published_after_each_write(
    registry_url: str, chair: Ed25519PrivateKey
) -> None:
    with Registry(registry_url, trusted_keys={}) as registry:
        signed_record(registry, chair, "1.0")
        signed_record(registry, chair, "1.1", verdict="fail")
        published = registry.head_statement(chair)
        append_chen(registry_url)  # the triggers accept it: it follows the head
        assert head(registry_url)[0] == 3
        assert registry.verify_log().ok  # documented: no chain detects a correct append
        assert registry.verify_log(expect_head=published).ok  # the old head is still there
        result = registry.verify_log(expect_head=published, nothing_after_head=True)
        assert result.problems == (
            verify.MSG_AFTER_HEAD.format(entry="entry 3 (signoff of audit 2)", head=2),
        )
        (row,) = [r for r in registry.history(MODEL) if r.audit_id == 2]
        assert row.signoff_status == "approved"  # what the forger wanted history to show


def test_a_forged_signoff_appended_is_caught_by_its_missing_signature(
    signed: Registry, registry_url: str
) -> None:
    append_chen(registry_url)
    result = signed.verify_log()  # no external head needed
    assert result.problems == (
        verify.MSG_SIGNOFF_UNSIGNED.format(entry="entry 4 (signoff of audit 2)"),
    )
    assert result.first_bad == 4


def test_a_signoff_signed_by_an_untrusted_key_or_with_a_copied_signature_is_caught(
    signed: Registry, registry_url: str, chair: Ed25519PrivateKey
) -> None:
    attacker = Ed25519PrivateKey.generate()
    seq, prev = head(registry_url)
    body = chen_signoff(registry_url, seq + 1, prev)
    payload = json.loads(body["payload"])
    payload["signature"] = sign(chain.signed_bytes(payload), attacker).to_dict()
    run_sql(registry_url, INSERT_ENTRY, **forged_entry(registry_url, seq + 1, prev, payload))
    copied = json.loads(scalar(registry_url, "SELECT payload FROM log_entries WHERE seq = 3"))
    seq, prev = head(registry_url)
    replay = json.loads(chen_signoff(registry_url, seq + 1, prev)["payload"])
    replay["signature"] = copied["signature"]  # a real chair signature, from another entry
    run_sql(registry_url, INSERT_ENTRY, **forged_entry(registry_url, seq + 1, prev, replay))
    problems = signed.verify_log().problems
    assert (
        "entry 4 (signoff of audit 2): "
        + (
            f"it is signed by key {key_id(attacker.public_key())}, which is not one of the "
            "trusted keys"
        )
        in problems
    )
    assert (
        f"entry 5 (signoff of audit 2): its signature by key {key_id(chair.public_key())} does "
        "not verify: the signed content was changed"
    ) in problems


def test_a_forged_audit_appended_is_caught_by_its_missing_report_signature(
    signed: Registry, registry_url: str
) -> None:
    seq, prev = head(registry_url)
    report, text = make_report("9.9")
    payload = {
        "kind": "audit",
        "seq": seq + 1,
        "audit_id": 3,
        "model_name": MODEL,
        "model_version": "9.9",
        "report_name": report.name,
        "verdict": "pass",
        "ran_by": "Dr A. Chen",
        "recorded_at": "2026-01-01T00:00:00Z",
        "generated_at": None,
        "report_sha256": chain.sha256_text(text),
        "report_dir": None,
        "provenance_sha256": {},
    }
    run_sql(registry_url, INSERT_ENTRY, **forged_entry(registry_url, seq + 1, prev, payload))
    problems = signed.verify_log().problems
    assert verify.MSG_REPORT_UNSIGNED.format(entry="entry 4 (audit 3 of sepsis-risk 9.9)") in (
        problems
    )


# -- rewriting, truncating, replacing: caught by a signed head statement ---------------------


def test_a_rewritten_log_is_caught_by_a_signed_head_statement(
    signed: Registry, registry_url: str, chair: Ed25519PrivateKey
) -> None:
    statement = signed.head_statement(chair)
    engine = sa.create_engine(registry_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, payload FROM log_entries ORDER BY seq")).all()
    engine.dispose()
    prev, statements, params = chain.GENESIS_SHA256, [], dict[str, Any]()
    for seq, payload in rows:  # change who ran audits (unsigned facts), rehash everything
        text = payload.replace('"ran_by":"A. Analyst"', '"ran_by":"Dr Z"')
        content = chain.sha256_text(text)
        link = chain.entry_hash(prev, content)
        statements.append(
            f"UPDATE log_entries SET payload = :p{seq}, content_sha256 = :c{seq}, "
            f"prev_sha256 = :v{seq}, entry_sha256 = :e{seq} WHERE seq = {seq}"
        )
        params |= {f"p{seq}": text, f"c{seq}": content, f"v{seq}": prev, f"e{seq}": link}
        prev = link
    statements += [
        "UPDATE audits SET ran_by = 'Dr Z'",
        f"UPDATE chain_head SET entry_sha256 = :e{len(rows)}",
    ]
    tamper(registry_url, *statements, **params)
    assert signed.verify_log().ok  # signatures hold: what changed is not signed ...
    assert signed.verify_log(expect_head=statement).problems == (  # ... the statement tells
        verify.MSG_STATED_HEAD_MISSING.format(seq=3, sha=statement.entry_sha256),
    )


def test_a_truncated_log_is_caught_only_by_a_published_head(
    signed: Registry, registry_url: str, chair: Ed25519PrivateKey
) -> None:
    statement = signed.head_statement(chair)
    second = scalar(registry_url, "SELECT entry_sha256 FROM log_entries WHERE seq = 2")
    tamper(
        registry_url,
        "DELETE FROM signoffs WHERE log_seq = 3",
        "DELETE FROM log_entries WHERE seq = 3",
        "UPDATE chain_head SET seq = 2, entry_sha256 = :h",
        h=second,
    )
    assert signed.verify_log().ok  # documented: the rejection vanished without a trace ...
    assert signed.verify_log(expect_head=statement).problems == (  # ... but for the statement
        verify.MSG_STATED_HEAD_MISSING.format(seq=3, sha=statement.entry_sha256),
    )
    assert not signed.verify_log(expect_head=statement.entry_sha256).ok


def test_a_replaced_database_is_caught_by_a_published_head(
    signed: Registry, chair: Ed25519PrivateKey, tmp_path: Path
) -> None:
    statement = signed.head_statement(chair)
    with Registry(f"sqlite:///{tmp_path / 'other.db'}", trusted_keys=signed.trusted_keys) as other:
        signed_record(other, chair, "1.0")  # a plausible, entirely signed replacement
        signed_record(other, chair, "1.1", verdict="fail")
        signed_record(other, chair, "1.2")
        assert other.verify_log().ok
        assert not other.verify_log(expect_head=statement).ok


# -- recording re-checks the report ----------------------------------------------------------


def test_record_refuses_an_edited_verdict_and_unsigned_or_untrusted_reports(
    registry_url: str, chair: Ed25519PrivateKey, tmp_path: Path
) -> None:
    report, text = make_report("2.0", verdict="fail")
    edited = text.replace('"verdict": "fail"', '"verdict": "pass"')
    assert edited != text
    with Registry(registry_url, trusted_keys={}) as registry:
        with pytest.raises(RegistryError) as err:
            registry.record(json.loads(edited), report_json=edited, ran_by="x", source="r.json")
        assert str(err.value) == (
            "r.json: its verdict is 'pass' but its own policy results make it 'fail': the "
            "report was changed after it was judged; refusing to record it"
        )
    with Registry(registry_url, trusted_keys=trust(chair)) as registry:
        with pytest.raises(SignatureError) as err:
            registry.record(report, report_json=text, ran_by="x", source="r.json")
        assert str(err.value) == service.MSG_REPORT_UNSIGNED.format(path="r.json", sig="r.json.sig")
        other = Ed25519PrivateKey.generate()
        with pytest.raises(SignatureError, match="not one of the trusted keys"):
            registry.record(
                report, report_json=text, ran_by="x", signature=sign(text.encode(), other)
            )
        with pytest.raises(SignatureError, match="does not verify"):
            forged = sign(text.encode(), chair)
            registry.record(
                json.loads(edited) | {"verdict": "fail"},
                report_json=text + " ",
                ran_by="x",
                signature=forged,
            )
        entry = registry.record(
            report, report_json=text, ran_by="x", signature=sign(text.encode(), chair)
        )
        assert json.loads(scalar(registry_url, "SELECT payload FROM log_entries WHERE seq = 1"))[
            "report_signature"
        ]["key_id"] == key_id(chair.public_key())
        assert entry.audit_id == 1
        assert registry.verify_log().ok


def _cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_signature_round_trip_and_a_forged_report_refused(
    registry_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    key = tmp_path / "analyst.key"
    assert _cli(capsys, "keygen", str(key))[0] == 0
    pub = tmp_path / "analyst.key.pub"
    folder = tmp_path / "audit"
    folder.mkdir()
    _, text = make_report("3.0", verdict="fail")
    (folder / "report.json").write_text(text)
    assert _cli(capsys, "sign-report", str(folder), "--sign-key", str(key))[0] == 0
    kid = key_id(load_private_key(key).public_key())
    code, out, _ = _cli(capsys, "verify-report", str(folder), "--trusted-keys", str(pub))
    assert (code, out) == (
        0,
        cli.REPORT_VERIFIED.format(file=folder / "report.json", key_id=kid) + "\n",
    )
    code, _, err = _cli(
        capsys,
        "record",
        str(folder),
        "--registry",
        registry_url,
        "--trusted-keys",
        str(pub),
        "--ran-by",
        "A. Analyst",
    )
    assert code == 0, err

    (folder / "report.json").write_text(text.replace('"verdict": "fail"', '"verdict": "pass"'))
    code, out, _ = _cli(capsys, "verify-report", str(folder), "--trusted-keys", str(pub))
    assert code == 1 and "NOT VERIFIED" in out and "does not verify" in out
    code, _, err = _cli(
        capsys,
        "record",
        str(folder),
        "--registry",
        registry_url,
        "--trusted-keys",
        str(pub),
        "--ran-by",
        "A. Analyst",
    )
    assert code == 2 and "its verdict is 'pass' but its own policy results make it 'fail'" in err
    # verdict and results edited consistently: the re-judging passes, the signature does not
    data = json.loads(text)
    data["verdict"], data["policy_results"] = "pass", []
    data["counts"] = {k: 0 for k in data["counts"]}
    (folder / "report.json").write_text(json.dumps(data))
    code, _, err = _cli(
        capsys,
        "record",
        str(folder),
        "--registry",
        registry_url,
        "--trusted-keys",
        str(pub),
        "--ran-by",
        "A. Analyst",
    )
    assert code == 2 and "does not verify: the signed content was changed" in err
    (folder / f"report.json{SIGNATURE_SUFFIX}").unlink()
    code, _, err = _cli(
        capsys,
        "record",
        str(folder),
        "--registry",
        registry_url,
        "--trusted-keys",
        str(pub),
        "--ran-by",
        "A. Analyst",
    )
    assert code == 2 and "has no signature" in err
    code, _, err = _cli(capsys, "verify-report", str(folder))
    assert code == 2 and "needs the public keys to trust" in err


def test_cli_log_head_and_verify_log_with_a_statement(
    signed: Registry,
    registry_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    chair: Ed25519PrivateKey,
) -> None:
    from cryptography.hazmat.primitives import serialization

    key = tmp_path / "chair.key"
    key.write_bytes(
        chair.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pub = tmp_path / "chair.pub"
    pub.write_bytes(
        chair.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    code, out, _ = _cli(capsys, "log-head", "--sign-key", str(key), "--registry", registry_url)
    assert code == 0
    statement = HeadStatement.from_dict(json.loads(out))
    assert (statement.seq, statement.entry_sha256) == head(registry_url)
    (tmp_path / "head.json").write_text(out)
    args = ["verify-log", "--registry", registry_url, "--trusted-keys", str(pub)]
    code, out, _ = _cli(capsys, *args, "--expect-head", str(tmp_path / "head.json"))
    assert code == 0 and out.splitlines()[-1] == commands.MSG_TRUST_CHECKED.format(count=1)

    moved = json.loads((tmp_path / "head.json").read_text()) | {"seq": 1}
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    code, _, err = _cli(capsys, *args, "--expect-head", str(tmp_path / "moved.json"))
    assert code == 2 and "cannot be trusted" in err and "does not verify" in err
    del moved["signature"]
    (tmp_path / "unsigned.json").write_text(json.dumps(moved))
    code, _, err = _cli(capsys, *args, "--expect-head", str(tmp_path / "unsigned.json"))
    assert code == 2 and "is not signed" in err
    code, _, err = _cli(capsys, "log-head", "--registry", registry_url)
    assert code == 2 and err.strip() == f"error: {commands.MSG_NEEDS_KEY}"

    append_chen(registry_url)
    code, out, _ = _cli(capsys, *args, "--expect-head", str(tmp_path / "head.json"))
    assert code == 1
    assert out.splitlines()[0] == "log TAMPERED: " + verify.MSG_SIGNOFF_UNSIGNED.format(
        entry="entry 4 (signoff of audit 2)"
    )


# -- text is data ----------------------------------------------------------------------------


def test_identities_are_one_line_and_text_is_printed_escaped(
    registry_url: str, chair: Ed25519PrivateKey, capsys: pytest.CaptureFixture
) -> None:
    with Registry(registry_url, trusted_keys={}) as registry:
        signed_record(registry, chair, "1.0")
        for by, role in (("Dr B\napproved by Dr A. Chen (CMIO)", "chair"), ("Dr B", "chair\r")):
            with pytest.raises(RegistryError, match="must be one line"):
                registry.signoff(1, by=by, role=role, decision="approve")
        with pytest.raises(RegistryError, match=r"identity\.display_name must be one line"):
            registry.signoff(
                1,
                by="x",
                role="y",
                decision="approve",
                identity=SignerIdentity("https://idp", "42", "Dr\u2028B", "chair"),
            )
        comment = "fine\x1b[2J\x1b[31m APPROVED \u202eLIAF"
        entry = registry.signoff(
            1, by="Dr \x1b[1mB", role="chair", decision="approve", comment=comment
        )
        assert registry.signoffs(1)[0].comment == comment  # stored as given
        assert entry.signed_by == "Dr \x1b[1mB"
    assert cli.main(["history", MODEL, "--registry", registry_url]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert "Dr \\x1b[1mB" in out and escape_control(comment) in out


def test_a_signoff_with_an_authenticated_identity_is_signed_and_verified(
    registry_url: str, chair: Ed25519PrivateKey
) -> None:
    identity = SignerIdentity("https://login.example.org", "u-1234", "Dr B. Chair", "chair")
    with Registry(registry_url, trusted_keys=trust(chair)) as registry:
        signed_record(registry, chair, "1.0")
        with pytest.raises(SignatureError, match="only signed sign-offs"):
            registry.signoff(1, by="Dr B. Chair", role="chair", decision="approve")
        with pytest.raises(SignatureError, match="not one of the trusted keys"):
            registry.signoff(
                1,
                by="Dr B. Chair",
                role="chair",
                decision="approve",
                signer=Ed25519PrivateKey.generate(),
            )
        registry.signoff(
            1,
            by=identity.display_name,
            role=identity.role,
            decision="approve",
            identity=identity,
            signer=chair,
        )
        payload = json.loads(scalar(registry_url, "SELECT payload FROM log_entries WHERE seq = 2"))
        assert payload["identity"] == identity.to_dict()
        assert registry.verify_log().ok
    payload["identity"]["subject"] = "u-9999"  # claim another person's identity
    text = chain.canonical_json(payload)
    tamper(
        registry_url,
        "UPDATE log_entries SET payload = :p, content_sha256 = :c, entry_sha256 = :e WHERE seq = 2",
        p=text,
        c=chain.sha256_text(text),
        e=chain.entry_hash(payload_prev(registry_url), chain.sha256_text(text)),
    )
    tamper(
        registry_url,
        "UPDATE chain_head SET entry_sha256 = :e",
        e=scalar(registry_url, "SELECT entry_sha256 FROM log_entries WHERE seq = 2"),
    )
    with Registry(registry_url, trusted_keys=trust(chair)) as registry:
        assert "does not verify" in registry.verify_log().problems[0]


def payload_prev(url: str) -> str:
    return scalar(url, "SELECT prev_sha256 FROM log_entries WHERE seq = 2")


def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    generate_key(tmp_path / "k")
    with pytest.raises(SignatureError, match="already exists"):
        generate_key(tmp_path / "k")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600


def test_migration_0003_turns_the_guards_on_for_a_populated_registry(
    signed: Registry, registry_url: str
) -> None:
    from auditor.registry import db

    seq, prev = head(registry_url)
    forged = chen_signoff(registry_url, seq + 2, prev)
    db.downgrade(signed.engine, "0002")
    assert db.current_revision(signed.engine) == "0002"
    run_sql(registry_url, INSERT_ENTRY, **forged)  # before revision 0003 any INSERT went through
    run_sql(registry_url, "UPDATE chain_head SET seq = seq")
    tamper(registry_url, f"DELETE FROM log_entries WHERE seq = {seq + 2}")
    db.upgrade(signed.engine)
    assert db.current_revision(signed.engine) == db.head_revision() == "0003"
    assert signed.verify_log().ok
    with pytest.raises(sa.exc.DatabaseError, match="must follow the chain head"):
        run_sql(registry_url, INSERT_ENTRY, **forged)
    with pytest.raises(sa.exc.DatabaseError, match="chain_head moves only"):
        run_sql(registry_url, "UPDATE chain_head SET seq = seq")


def test_audit_signs_its_report_and_records_it_in_a_registry_that_trusts_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.load_helpers import make_cohort, write_cohort, write_spec

    write_cohort(tmp_path, make_cohort(300))
    spec = write_spec(tmp_path, bootstrap=0)
    key = tmp_path / "analyst.key"
    generate_key(key)
    out = tmp_path / "audit"
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("AUDITOR_TRUSTED_KEYS", str(tmp_path / "analyst.key.pub"))
    argv = ["audit", str(spec), "--out", str(out), "--formats", "json,md", "--sign-key", str(key)]
    code, stdout, err = _cli(capsys, *argv, "--record", "--registry", url)
    assert code == 0, err
    assert stdout.strip().endswith("recorded as audit 1")
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.json.sig", "summary.md"]
    assert _cli(capsys, "verify-report", str(out))[0] == 0
    code, stdout, _ = _cli(capsys, "verify-log", "--registry", url)
    assert code == 0 and stdout.splitlines()[-1] == commands.MSG_TRUST_CHECKED.format(count=1)
    code, _, err = _cli(capsys, *argv[:-2], "--formats", "md", "--force", "--sign-key", str(key))
    assert (code, err.strip()) == (2, f"error: {cli.SIGN_NEEDS_JSON}")
    code, _, err = _cli(capsys, *argv, "--force")  # --force replaces the signature too
    assert code == 0, err


def test_a_rewritten_verdict_is_caught_against_the_signed_report(
    signed: Registry, registry_url: str
) -> None:
    engine = sa.create_engine(registry_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, payload FROM log_entries ORDER BY seq")).all()
    engine.dispose()
    prev, statements, params = chain.GENESIS_SHA256, [], dict[str, Any]()
    for seq, payload in rows:  # flip audit 2's verdict in the log, rehash everything
        text = payload.replace('"verdict":"fail"', '"verdict":"pass"')
        content = chain.sha256_text(text)
        link = chain.entry_hash(prev, content)
        statements.append(
            f"UPDATE log_entries SET payload = :p{seq}, content_sha256 = :c{seq}, "
            f"prev_sha256 = :v{seq}, entry_sha256 = :e{seq} WHERE seq = {seq}"
        )
        params |= {f"p{seq}": text, f"c{seq}": content, f"v{seq}": prev, f"e{seq}": link}
        prev = link
    statements += [
        "UPDATE audits SET verdict = 'pass' WHERE id = 2",
        f"UPDATE chain_head SET entry_sha256 = :e{len(rows)}",
    ]
    tamper(registry_url, *statements, **params)
    assert signed.verify_log().problems == (
        verify.MSG_FACTS_DIFFER.format(
            row_id=2, seq=2, field="verdict", in_log="pass", in_report="fail"
        ),
    )
