"""Verify the registry: recompute the chain, check its tail, compare the typed tables with it.

Every problem is a sentence a committee member can act on, naming the entry, the
audit or sign-off and what changed. ``verify`` runs inside one read transaction
so it sees a single consistent state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from auditor.registry.chain import (
    ChainEntry,
    ChainProblem,
    check_chain,
    describe_entry,
    sha256_text,
    signed_bytes,
)
from auditor.registry.models import (
    AUDIT_LOGGED_FIELDS,
    AUDITS_TABLE,
    HEAD_TABLE,
    LOG_TABLE,
    SIGNOFF_LOGGED_FIELDS,
    SIGNOFFS_TABLE,
    AuditRow,
    ChainHead,
    LogEntry,
    SignoffRow,
)
from auditor.registry.records import HeadStatement, VerifyResult
from auditor.signing import Signature, TrustedKeys, signature_problem

MSG_HEAD_MISSING = "the chain head row is missing: the registry's tables were edited"
MSG_TAIL_INSERTED = "{entry} was inserted after entry {head}, the last one the registry wrote"
MSG_TAIL_DELETED_ONE = (
    "entry {first} was deleted: the log ends at entry {last} but the registry wrote up to "
    "entry {head}"
)
MSG_TAIL_DELETED_MANY = (
    "entries {first} to {head} were deleted: the log ends at entry {last} but the registry "
    "wrote up to entry {head}"
)
MSG_TAIL_REPLACED = "{entry} was replaced: it is not the entry the registry wrote last"
MSG_PUBLISHED_HEAD_MISSING = (
    "the published head {sha} is not in the log: the log was rewritten after it was published"
)
MSG_STATED_HEAD_MISSING = (
    "the published head (entry {seq}, {sha}) is not in the log: the log was rewritten or "
    "truncated after it was published"
)
MSG_AFTER_HEAD = (
    "{entry} was appended after the published head (entry {head}), which was to be the last"
)
MSG_SIGNOFF_UNSIGNED = (
    "{entry} carries no signature: with trusted keys configured every sign-off must be "
    "signed, so it was not written by a trusted signer"
)
MSG_REPORT_UNSIGNED = (
    "{entry} records a report without a signature: with trusted keys configured every "
    "report must be signed, so it was not recorded through the registry's checks"
)
MSG_ENTRY_SIGNATURE = "{entry}: {problem}"
MSG_REPORT_SIGNATURE = "{entry}: the recorded report's signature is not valid: {problem}"
MSG_DUPLICATE_REPORT = (
    "{entry} records the same report as entry {first}: a report is recorded once, so it was "
    "added outside the registry"
)
MSG_FACTS_DIFFER = (
    "audit {row_id} (entry {seq}): its log entry says {field} is {in_log!r} but the recorded "
    "report says {in_report!r}"
)
MSG_ROW_ALTERED = (
    "{what} {row_id} (entry {seq}) was altered in the {table} table: {field} is {in_table!r} "
    "there but {in_log!r} in the log"
)
MSG_ROW_DELETED = "{what} {row_id} (entry {seq}) was deleted from the {table} table"
MSG_ROW_INSERTED = (
    "{what} {row_id} is in the {table} table but not in the log: it was added outside the registry"
)
MSG_REPORT_CHANGED = (
    "the report of audit {audit_id} (entry {seq}) was changed after it was recorded: "
    "its SHA-256 no longer matches the log"
)
MSG_SIGNED_REPORT_CHANGED = (
    "the report of audit {audit_id} was changed after sign-off {signoff_id} (entry {seq}) "
    "{decided} it: the signed report hash no longer matches the stored report"
)
MSG_SIGNED_OTHER_REPORT = (
    "sign-off {signoff_id} (entry {seq}) names a report hash that audit {audit_id} never had"
)


def verify(
    conn: Connection,
    *,
    expect_head: str | HeadStatement | None = None,
    trusted_keys: TrustedKeys | None = None,
    nothing_after_head: bool = False,
) -> VerifyResult:
    """Recompute the chain from the first entry and compare the typed tables with it.

    Finds entries altered, deleted or inserted, typed rows that differ from their
    entry, and reports changed after they were recorded or signed off.
    ``expect_head``: a head hash published earlier, which must still be in the log
    (catches a rewrite of the whole chain, which no chain can detect by itself);
    a :class:`HeadStatement` also names its entry, so a truncated log shows too.
    With ``trusted_keys``, every sign-off must carry a signature and every audit a
    report signature that verify with one of them (catches an entry appended by
    someone with write access to the database, without any published head).
    ``nothing_after_head``: the published head must be the last entry (catches an
    append when no keys are trusted, if a head is published after every write).
    """
    entries = [
        ChainEntry(r.seq, r.kind, r.payload, r.content_sha256, r.prev_sha256, r.entry_sha256)
        for r in conn.execute(select(LOG_TABLE).order_by(LogEntry.seq))
    ]
    head = conn.execute(select(HEAD_TABLE).where(ChainHead.id == 1)).one_or_none()
    count, last_hash, problems = check_chain(entries)
    problems += _tail_problems(entries, head)
    if isinstance(expect_head, HeadStatement):
        if not any(
            e.seq == expect_head.seq and e.entry_sha256 == expect_head.entry_sha256 for e in entries
        ):
            problems.append(
                ChainProblem(
                    0,
                    MSG_STATED_HEAD_MISSING.format(
                        seq=expect_head.seq, sha=expect_head.entry_sha256
                    ),
                )
            )
    elif expect_head is not None and all(e.entry_sha256 != expect_head for e in entries):
        problems.append(ChainProblem(0, MSG_PUBLISHED_HEAD_MISSING.format(sha=expect_head)))
    if nothing_after_head and expect_head is not None:
        sha = expect_head.entry_sha256 if isinstance(expect_head, HeadStatement) else expect_head
        position = next((i for i, e in enumerate(entries) if e.entry_sha256 == sha), None)
        if position is not None and position + 1 < len(entries):
            after = entries[position + 1]
            problems.append(
                ChainProblem(
                    after.seq,
                    MSG_AFTER_HEAD.format(
                        entry=describe_entry(after.seq, after.kind, after.payload),
                        head=entries[position].seq,
                    ),
                )
            )
    problems += _table_problems(conn, entries)
    problems += _duplicate_reports(entries)
    if trusted_keys:
        problems += _signature_problems(conn, entries, trusted_keys)
    problems.sort(key=lambda p: (p.seq == 0, p.seq))  # problems tied to no entry go last
    first = problems[0] if problems else None
    return VerifyResult(
        ok=not problems,
        entries=count,
        first_bad=(first.seq or None) if first else None,
        problem=first.message if first else None,
        problems=tuple(p.message for p in problems),
        head_sha256=last_hash if entries else None,
        trusted_keys=len(trusted_keys or {}),
    )


def _duplicate_reports(entries: Sequence[ChainEntry]) -> list[ChainProblem]:
    first: dict[str, int] = {}
    problems = []
    for e in entries:
        payload = _json_object(e.payload) if e.kind == "audit" else None
        sha = payload.get("report_sha256") if payload else None
        if not isinstance(sha, str):
            continue
        if sha in first:
            label = describe_entry(e.seq, e.kind, e.payload)
            problems.append(
                ChainProblem(e.seq, MSG_DUPLICATE_REPORT.format(entry=label, first=first[sha]))
            )
        else:
            first[sha] = e.seq
    return problems


def _signature_problems(
    conn: Connection, entries: Sequence[ChainEntry], trusted: TrustedKeys
) -> list[ChainProblem]:
    """Every sign-off signed, every recorded report signed, each by a trusted key."""
    reports = {r.log_seq: r.report_json for r in conn.execute(select(AUDITS_TABLE))}
    problems: list[ChainProblem] = []
    for e in entries:
        payload = _json_object(e.payload)
        if payload is None:
            continue
        label = describe_entry(e.seq, e.kind, e.payload)
        if "signature" in payload:
            problem = _problem(signed_bytes(payload), payload["signature"], trusted)
            if problem is not None:
                problems.append(
                    ChainProblem(e.seq, MSG_ENTRY_SIGNATURE.format(entry=label, problem=problem))
                )
        elif e.kind == "signoff":
            problems.append(ChainProblem(e.seq, MSG_SIGNOFF_UNSIGNED.format(entry=label)))
        if e.kind != "audit":
            continue
        if "report_signature" not in payload:
            problems.append(ChainProblem(e.seq, MSG_REPORT_UNSIGNED.format(entry=label)))
            continue
        text = reports.get(e.seq)
        if text is None:
            continue  # the typed row is gone: reported by the table comparison
        problem = _problem(text.encode("utf-8"), payload["report_signature"], trusted)
        if problem is not None:
            problems.append(
                ChainProblem(e.seq, MSG_REPORT_SIGNATURE.format(entry=label, problem=problem))
            )
    return problems


def _problem(content: bytes, raw: Any, trusted: TrustedKeys) -> str | None:
    from auditor.errors import SignatureError

    try:
        signature = Signature.from_dict(raw)
    except SignatureError as exc:
        return exc.message
    return signature_problem(content, signature, trusted)


def _tail_problems(entries: Sequence[ChainEntry], head: Row[Any] | None) -> list[ChainProblem]:
    """Compare the last entry with the chain head the registry updated when writing it."""
    if head is None:
        return [ChainProblem(0, MSG_HEAD_MISSING)]
    last = entries[-1] if entries else None
    last_seq = last.seq if last else 0
    if last_seq > head.seq:
        inserted = next(e for e in entries if e.seq > head.seq)
        label = describe_entry(inserted.seq, inserted.kind, inserted.payload)
        return [ChainProblem(inserted.seq, MSG_TAIL_INSERTED.format(entry=label, head=head.seq))]
    if last_seq < head.seq:
        template = MSG_TAIL_DELETED_ONE if head.seq == last_seq + 1 else MSG_TAIL_DELETED_MANY
        return [
            ChainProblem(
                last_seq + 1, template.format(first=last_seq + 1, last=last_seq, head=head.seq)
            )
        ]
    if last is not None and last.entry_sha256 != head.entry_sha256:
        label = describe_entry(last.seq, last.kind, last.payload)
        return [ChainProblem(last.seq, MSG_TAIL_REPLACED.format(entry=label))]
    return []


def _table_problems(conn: Connection, entries: Sequence[ChainEntry]) -> list[ChainProblem]:
    """Compare ``audits`` and ``signoffs`` with the (intact) log entries they copy."""
    logged: dict[str, dict[int, tuple[int, dict[str, Any]]]] = {"audit": {}, "signoff": {}}
    altered_seqs = set()
    for e in entries:
        if sha256_text(e.payload) != e.content_sha256:
            altered_seqs.add(e.seq)
            continue
        payload = _json_object(e.payload)
        if payload is None:  # a forged entry with matching hashes: its links tell
            continue
        id_key = "audit_id" if e.kind == "audit" else "signoff_id"
        if e.kind in logged and id_key in payload:
            logged[e.kind][payload[id_key]] = (e.seq, payload)

    problems: list[ChainProblem] = []
    current_report: dict[int, str] = {}
    seen: set[int] = set()
    for row in conn.execute(select(AUDITS_TABLE).order_by(AuditRow.id)):
        seen.add(row.id)
        current_report[row.id] = sha256_text(row.report_json)
        if row.id not in logged["audit"]:
            if row.log_seq not in altered_seqs:
                problems.append(
                    ChainProblem(
                        0,  # no entry to point at: the row has none
                        MSG_ROW_INSERTED.format(what="audit", row_id=row.id, table="audits"),
                    )
                )
            continue
        seq, payload = logged["audit"][row.id]
        in_table = {f: getattr(row, f) for f in AUDIT_LOGGED_FIELDS}
        in_table["provenance_sha256"] = _loads_or_text(row.provenance_sha256)
        in_table["log_seq"] = row.log_seq
        in_log = {f: payload.get(f) for f in (*AUDIT_LOGGED_FIELDS, "provenance_sha256")}
        in_log["log_seq"] = seq
        problems += _field_problems("audit", row.id, seq, "audits", in_table, in_log)
        if current_report[row.id] != payload.get("report_sha256"):
            problems.append(ChainProblem(seq, MSG_REPORT_CHANGED.format(audit_id=row.id, seq=seq)))
        else:
            problems += _facts_problems(row.id, seq, row.report_json, payload)
    for audit_id, (seq, _) in logged["audit"].items():
        if audit_id not in seen:
            problems.append(
                ChainProblem(
                    seq,
                    MSG_ROW_DELETED.format(what="audit", row_id=audit_id, seq=seq, table="audits"),
                )
            )

    seen = set()
    for srow in conn.execute(select(SIGNOFFS_TABLE).order_by(SignoffRow.id)):
        seen.add(srow.id)
        if srow.id not in logged["signoff"]:
            if srow.log_seq not in altered_seqs:
                problems.append(
                    ChainProblem(
                        0,  # no entry to point at: the row has none
                        MSG_ROW_INSERTED.format(what="sign-off", row_id=srow.id, table="signoffs"),
                    )
                )
            continue
        seq, payload = logged["signoff"][srow.id]
        in_table = {f: getattr(srow, f) for f in SIGNOFF_LOGGED_FIELDS}
        in_table["log_seq"] = srow.log_seq
        in_log = {f: payload.get(f) for f in SIGNOFF_LOGGED_FIELDS}
        in_log["log_seq"] = seq
        problems += _field_problems("sign-off", srow.id, seq, "signoffs", in_table, in_log)
    for signoff_id, (seq, payload) in logged["signoff"].items():
        if signoff_id not in seen:
            problems.append(
                ChainProblem(
                    seq,
                    MSG_ROW_DELETED.format(
                        what="sign-off", row_id=signoff_id, seq=seq, table="signoffs"
                    ),
                )
            )
        signed_audit = int(payload.get("audit_id", 0))
        audit_logged = logged["audit"].get(signed_audit)
        if audit_logged and audit_logged[1].get("report_sha256") != payload.get("report_sha256"):
            problems.append(
                ChainProblem(
                    seq,
                    MSG_SIGNED_OTHER_REPORT.format(
                        signoff_id=signoff_id, seq=seq, audit_id=signed_audit
                    ),
                )
            )
        elif signed_audit in current_report and current_report[signed_audit] != payload.get(
            "report_sha256"
        ):
            decided = "approved" if payload.get("decision") == "approve" else "rejected"
            problems.append(
                ChainProblem(
                    seq,
                    MSG_SIGNED_REPORT_CHANGED.format(
                        audit_id=signed_audit, signoff_id=signoff_id, seq=seq, decided=decided
                    ),
                )
            )
    return problems


_REPORT_FACTS = ("model_name", "model_version", "report_name", "verdict", "generated_at")


def _facts_problems(
    row_id: int, seq: int, report_json: str, payload: Mapping[str, Any]
) -> list[ChainProblem]:
    """The entry's facts must be those of the report it records (which a signature covers)."""
    from auditor.errors import RegistryError
    from auditor.registry.report_facts import audit_facts

    try:
        data = json.loads(report_json)
        facts = audit_facts(data, report_json)
    except (ValueError, RegistryError):
        return []  # an unreadable stored report shows as a changed report or signature
    for name in (*_REPORT_FACTS, "provenance_sha256"):
        in_report = getattr(facts, name)
        if payload.get(name) != in_report:
            return [
                ChainProblem(
                    seq,
                    MSG_FACTS_DIFFER.format(
                        row_id=row_id,
                        seq=seq,
                        field=name,
                        in_log=payload.get(name),
                        in_report=in_report,
                    ),
                )
            ]
    return []


def _field_problems(
    what: str,
    row_id: int,
    seq: int,
    table: str,
    in_table: Mapping[str, Any],
    in_log: Mapping[str, Any],
) -> list[ChainProblem]:
    for name, logged_value in in_log.items():
        if in_table.get(name) != logged_value:
            return [
                ChainProblem(
                    seq,
                    MSG_ROW_ALTERED.format(
                        what=what,
                        row_id=row_id,
                        seq=seq,
                        table=table,
                        field=name,
                        in_table=in_table.get(name),
                        in_log=logged_value,
                    ),
                )
            ]
    return []


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _loads_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
