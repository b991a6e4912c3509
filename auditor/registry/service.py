"""The audit registry: record audits, follow a model across releases, sign off, verify.

Every write appends one entry to the hash-chained log (see ``chain.py``) and the
matching typed row, in one transaction under the writers' lock (see ``db.py``):
two processes recording at once both land, in turn, and a crash leaves nothing
half-written. Reads never trust the typed tables alone for integrity:
:meth:`Registry.verify_log` compares them with the log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, func, insert, select

from auditor.errors import RegistryError, SignatureError
from auditor.load.hashing import read_regular_file
from auditor.registry import db
from auditor.registry.chain import canonical_json, entry_hash, sha256_text, signed_bytes
from auditor.registry.models import (
    AUDITS_TABLE,
    HEAD_TABLE,
    NAME_LEN,
    SIGNOFFS_TABLE,
    AuditRow,
    ChainHead,
    LogEntry,
    SignoffRow,
)
from auditor.registry.names import DECISIONS
from auditor.registry.records import (
    AuditEntry,
    HeadStatement,
    HistoryRow,
    SignerIdentity,
    SignoffEntry,
    VerifyResult,
    audit_entry,
    release_key,
    signoff_entry,
    signoff_status,
)
from auditor.registry.report_facts import (
    audit_facts,
    check_report,
    key_metrics,
    parse_report_json,
)
from auditor.registry.verify import verify
from auditor.safe_text import escape_control, line_break_in
from auditor.signing import (
    SIGNATURE_SUFFIX,
    Signature,
    TrustedKeys,
    load_trusted_keys,
    sign,
    signature_problem,
)
from reports.model import Report

Decision = Literal["approve", "reject"]
REPORT_FILE = "report.json"

MSG_EMPTY = "{what} must not be empty"
MSG_TOO_LONG = "{field} is longer than {limit} characters: {start!r}..."
SHORT_TEXT_FIELDS = ("model_name", "model_version", "report_name", "ran_by", "signed_by", "role")
MSG_BAD_DECISION = "decision must be 'approve' or 'reject', got {decision!r}"
MSG_REJECT_NEEDS_COMMENT = "a rejection needs a comment saying why"
MSG_APPROVE_NEEDS_CONDITIONS = (
    "audit {audit_id}'s verdict is {verdict}: approving it needs written conditions (the comment)"
)
MSG_IDENTITY_INCOMPLETE = "an authenticated sign-off needs both the issuer and the subject"
APPROVE_WITHOUT_CONDITIONS = ("pass", "warn")
"""Verdicts an approval may carry without conditions; any other (fail, undecided) needs them."""
MSG_UNKNOWN_AUDIT = (
    "audit {audit_id} is not in the registry at {url}; `auditor history MODEL` lists audit ids"
)
MSG_UNKNOWN_MODEL = (
    "no audits of model {model!r} in the registry at {url}; recorded models: {models}"
)
MSG_DUPLICATE_REPORT = "this report (SHA-256 {sha}) is already recorded as audit {audit_id}"
MSG_TAIL_MOVED = (
    "the log at {url} does not end where the registry left it (entry {seq}); "
    "nothing was written: run `auditor verify-log`"
)
MSG_SIGN_CHANGED_REPORT = (
    "audit {audit_id}'s stored report no longer matches the one recorded in the log; "
    "it cannot be signed off: run `auditor verify-log`"
)
MSG_NO_REPORT_FILE = (
    "{path} holds no report.json: give the --out folder of `auditor audit` or a report.json file"
)
MSG_UNREADABLE_REPORT = "cannot read {path}: {reason}"
MSG_LINE_BREAK = "{field} must be one line; it contains a line break: {shown}"
MSG_REPORT_UNSIGNED = (
    "{path} has no signature ({sig} is missing) and the registry trusts only signed reports: "
    "sign it with `auditor audit --sign-key KEY` or `auditor sign-report`"
)
MSG_REPORT_SIGNATURE = "{path} cannot be recorded: {problem}"
MSG_SIGNOFF_UNSIGNED = (
    "the registry trusts only signed sign-offs: give the signer's key (--sign-key KEY), "
    "whose public key is among the trusted keys"
)
MSG_SIGNER_UNTRUSTED = "the sign-off cannot be written: {problem}"
MSG_EMPTY_LOG = "the log is empty: there is no head to state"
HEAD_STATEMENT = "clinical-fairness-auditor registry head"
IDENTITY_FIELDS = ("issuer", "subject", "display_name", "role")


class Registry:
    """The audit registry at ``url`` (see :func:`db.resolve_url` for the default).

    Opening it migrates the database to the newest schema. Use it as a context
    manager, or call :meth:`close`, to release its connections. ``trusted_keys``
    (default: ``$AUDITOR_TRUSTED_KEYS``, else none) are the public keys whose
    signatures it accepts: with any, reports and sign-offs must be signed by one.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        migrate: bool = True,
        trusted_keys: TrustedKeys | None = None,
    ) -> None:
        self.trusted_keys: TrustedKeys = (
            load_trusted_keys() if trusted_keys is None else dict(trusted_keys)
        )
        """Public keys whose signatures this registry accepts; empty: signatures not judged."""
        self.url = db.resolve_url(url)
        self.engine = db.make_engine(self.url)
        if migrate:
            try:
                db.upgrade(self.engine)
            except BaseException:
                self.engine.dispose()
                raise

    @property
    def display_url(self) -> str:
        return db.display_url(self.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def record(
        self,
        report: Report | Mapping[str, Any],
        *,
        report_json: str,
        ran_by: str,
        report_dir: Path | None = None,
        signature: Signature | None = None,
        source: str = "report.json",
    ) -> AuditEntry:
        """Append an audit: its report text, provenance hashes, verdict, who and when.

        ``report_json`` is stored byte for byte and hashed; it must be the JSON of
        ``report``. The same report text cannot be recorded twice. The report is
        checked first (schema; verdict and counts re-judged from its own policy
        results) and, when the registry has trusted keys, ``signature`` (over the
        UTF-8 bytes of ``report_json``) must verify with one of them.
        """
        check_report(report_json, source=source)
        facts = audit_facts(report, report_json)
        _require(ran_by, "ran_by")
        _one_line(ran_by, "ran_by")
        if self.trusted_keys:
            if signature is None:
                raise SignatureError(
                    MSG_REPORT_UNSIGNED.format(path=source, sig=source + SIGNATURE_SUFFIX)
                )
            problem = signature_problem(report_json.encode("utf-8"), signature, self.trusted_keys)
            if problem is not None:
                raise SignatureError(MSG_REPORT_SIGNATURE.format(path=source, problem=problem))
        with db.write_connection(self.engine) as conn:
            seq, prev = self._lock_tail(conn)
            recorded_at = _utc_now()  # under the lock: times follow the order of the log
            duplicate = conn.scalar(
                select(AuditRow.id).where(AuditRow.report_sha256 == facts.report_sha256)
            )
            if duplicate is not None:
                raise RegistryError(
                    MSG_DUPLICATE_REPORT.format(sha=facts.report_sha256, audit_id=duplicate)
                )
            audit_id = (conn.scalar(select(func.max(AuditRow.id))) or 0) + 1
            values: dict[str, Any] = {
                "model_name": facts.model_name,
                "model_version": facts.model_version,
                "report_name": facts.report_name,
                "verdict": facts.verdict,
                "ran_by": ran_by,
                "recorded_at": recorded_at,
                "generated_at": facts.generated_at,
                "report_sha256": facts.report_sha256,
                "report_dir": str(Path(report_dir).resolve()) if report_dir is not None else None,
            }
            _check_lengths(values)
            payload = {
                "kind": "audit",
                "seq": seq,
                "audit_id": audit_id,
                "provenance_sha256": facts.provenance_sha256,
                **values,
            }
            if signature is not None:
                payload["report_signature"] = signature.to_dict()
            _append_entry(conn, seq, "audit", payload, prev)
            _insert_audit_row(
                conn,
                {
                    "id": audit_id,
                    "log_seq": seq,
                    "provenance_sha256": canonical_json(facts.provenance_sha256),
                    "report_json": report_json,
                    **values,
                },
            )
        return AuditEntry(
            audit_id=audit_id, seq=seq, provenance_sha256=facts.provenance_sha256, **values
        )

    def record_dir(self, path: Path, *, ran_by: str) -> AuditEntry:
        """Record ``path/report.json`` (or the report file ``path``) after validating it.

        The report is read once; its signature, if any, from ``report.json.sig``.
        """
        path = Path(path)
        file = path / REPORT_FILE if path.is_dir() else path
        if not file.exists():
            raise RegistryError(MSG_NO_REPORT_FILE.format(path=path))
        content = read_regular_file(file, error=RegistryError)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RegistryError(MSG_UNREADABLE_REPORT.format(path=file, reason=exc)) from exc
        data = parse_report_json(text, source=str(file))
        sig_file = file.with_name(file.name + SIGNATURE_SUFFIX)
        signature = Signature.read(sig_file) if sig_file.exists() else None
        return self.record(
            data,
            report_json=text,
            ran_by=ran_by,
            report_dir=file.parent.resolve(),
            signature=signature,
            source=str(file),
        )

    def signoff(
        self,
        audit_id: int,
        *,
        by: str,
        role: str,
        decision: Decision | str,
        comment: str = "",
        signer: Ed25519PrivateKey | None = None,
        identity: SignerIdentity | None = None,
        issuer: str | None = None,
        subject: str | None = None,
    ) -> SignoffEntry:
        """Append a decision on ``audit_id``, naming the SHA-256 of the report decided on.

        Refuses an audit whose stored report no longer matches its log entry: a
        signature must be on the evidence that was recorded. ``issuer`` and
        ``subject`` are the signer's OIDC identity when a login established it
        (or take them from ``identity``, which also records the display name and
        role the login gave); without them the entry says the signer was not
        authenticated. Approving an audit that did not pass (fail, undecided) needs
        conditions in ``comment``. ``signer`` signs the entry (its canonical
        payload, position included); with trusted keys configured, a sign-off must
        be signed by one of them.
        """
        if identity is not None and issuer is None and subject is None:
            issuer, subject = identity.issuer, identity.subject
        _require(by, "by")
        _require(role, "role")
        _one_line(by, "by")
        _one_line(role, "role")
        if identity is not None:
            for name in IDENTITY_FIELDS:
                _one_line(getattr(identity, name), f"identity.{name}")
        for name, value in (("issuer", issuer), ("subject", subject)):
            if value is not None:
                _one_line(value, name)
        if self.trusted_keys:
            if signer is None:
                raise SignatureError(MSG_SIGNOFF_UNSIGNED)
            probe = sign(b"probe", signer)
            problem = signature_problem(b"probe", probe, self.trusted_keys)
            if problem is not None:
                raise SignatureError(MSG_SIGNER_UNTRUSTED.format(problem=problem))
        if decision not in DECISIONS:
            raise RegistryError(MSG_BAD_DECISION.format(decision=decision))
        if decision == "reject" and not comment.strip():
            raise RegistryError(MSG_REJECT_NEEDS_COMMENT)
        if (issuer is None) != (subject is None) or (issuer is not None and not subject):
            raise RegistryError(MSG_IDENTITY_INCOMPLETE)
        _check_lengths({"signed_by": by, "role": role})
        with db.write_connection(self.engine) as conn:
            seq, prev = self._lock_tail(conn)
            signed_at = _utc_now()
            audit = conn.execute(
                select(AuditRow.report_json, AuditRow.verdict, LogEntry.payload)
                .join(LogEntry, LogEntry.seq == AuditRow.log_seq)
                .where(AuditRow.id == audit_id)
            ).one_or_none()
            if audit is None:
                raise RegistryError(
                    MSG_UNKNOWN_AUDIT.format(audit_id=audit_id, url=self.display_url)
                )
            report_sha = sha256_text(audit.report_json)
            if report_sha != json.loads(audit.payload).get("report_sha256"):
                raise RegistryError(MSG_SIGN_CHANGED_REPORT.format(audit_id=audit_id))
            if (
                decision == "approve"
                and audit.verdict not in APPROVE_WITHOUT_CONDITIONS
                and not comment.strip()
            ):
                raise RegistryError(
                    MSG_APPROVE_NEEDS_CONDITIONS.format(audit_id=audit_id, verdict=audit.verdict)
                )
            signoff_id = (conn.scalar(select(func.max(SignoffRow.id))) or 0) + 1
            values: dict[str, Any] = {
                "audit_id": audit_id,
                "signed_by": by,
                "role": role,
                "decision": decision,
                "comment": comment,
                "signed_at": signed_at,
                "report_sha256": report_sha,
                "signer_issuer": issuer,
                "signer_subject": subject,
                "authenticated": subject is not None,
            }
            payload: dict[str, Any] = {
                "kind": "signoff",
                "seq": seq,
                "signoff_id": signoff_id,
                **values,
            }
            if identity is not None:
                payload["identity"] = identity.to_dict()
            if signer is not None:
                payload["signature"] = sign(signed_bytes(payload), signer).to_dict()
            _append_entry(conn, seq, "signoff", payload, prev)
            conn.execute(insert(SignoffRow).values(id=signoff_id, log_seq=seq, **values))
        return SignoffEntry(signoff_id=signoff_id, seq=seq, **values)

    def _lock_tail(self, conn: Connection) -> tuple[int, str]:
        """Lock the chain head; return the next seq and the hash to link to.

        Refuses to write onto a log whose last entry is not the one the registry
        wrote last, so tampering at the tail is not buried under new entries.
        """
        head = conn.execute(
            select(HEAD_TABLE).where(ChainHead.id == 1).with_for_update()
        ).one_or_none()
        last = conn.execute(
            select(LogEntry.seq, LogEntry.entry_sha256).order_by(LogEntry.seq.desc()).limit(1)
        ).one_or_none()
        last_seq, last_hash = (last.seq, last.entry_sha256) if last else (0, None)
        if head is None or last_seq != head.seq or (last and last_hash != head.entry_sha256):
            raise RegistryError(
                MSG_TAIL_MOVED.format(url=self.display_url, seq=head.seq if head else "?")
            )
        return head.seq + 1, head.entry_sha256

    # -- reading ---------------------------------------------------------------------------

    def models(self) -> list[str]:
        """Names of every model with at least one recorded audit, sorted."""
        with db.read_connection(self.engine) as conn:
            rows = conn.scalars(select(AuditRow.model_name).distinct()).all()
        return sorted(rows)

    def audit(self, audit_id: int) -> AuditEntry:
        with db.read_connection(self.engine) as conn:
            row = conn.execute(select(AUDITS_TABLE).where(AuditRow.id == audit_id)).one_or_none()
            if row is None:
                raise RegistryError(
                    MSG_UNKNOWN_AUDIT.format(audit_id=audit_id, url=self.display_url)
                )
            return audit_entry(row)

    def report_json(self, audit_id: int) -> str:
        """The report text exactly as recorded."""
        with db.read_connection(self.engine) as conn:
            text = conn.scalar(select(AuditRow.report_json).where(AuditRow.id == audit_id))
        if text is None:
            raise RegistryError(MSG_UNKNOWN_AUDIT.format(audit_id=audit_id, url=self.display_url))
        return text

    def signoffs(self, audit_id: int) -> list[SignoffEntry]:
        with db.read_connection(self.engine) as conn:
            rows = conn.execute(
                select(SIGNOFFS_TABLE)
                .where(SignoffRow.audit_id == audit_id)
                .order_by(SignoffRow.id)
            ).all()
        return [signoff_entry(r) for r in rows]

    def history(self, model_name: str, *, metrics: Sequence[str] | None = None) -> list[HistoryRow]:
        """Every audit of ``model_name`` in release order, with sign-off status and metrics
        (``None``: the key metrics of each report's task).

        Release order is PEP 440 version order when every audit has such a
        version, natural order of the version text when every audit has one,
        else the order of recording. The latest sign-off decides the status.
        """
        with db.read_connection(self.engine) as conn:
            audits = conn.execute(
                select(AUDITS_TABLE).where(AuditRow.model_name == model_name).order_by(AuditRow.id)
            ).all()
            if not audits:
                known = conn.scalars(select(AuditRow.model_name).distinct()).all()
                raise RegistryError(
                    MSG_UNKNOWN_MODEL.format(
                        model=model_name,
                        url=self.display_url,
                        models=", ".join(sorted(known)) or "(none)",
                    )
                )
            signoffs = conn.execute(
                select(SIGNOFFS_TABLE)
                .where(SignoffRow.audit_id.in_([a.id for a in audits]))
                .order_by(SignoffRow.id)
            ).all()
            by_audit: dict[int, list[SignoffEntry]] = {}
            for s in signoffs:
                by_audit.setdefault(s.audit_id, []).append(signoff_entry(s))
            rows = [
                HistoryRow(
                    audit=audit_entry(a),
                    signoff_status=signoff_status(by_audit.get(a.id, [])),
                    signoffs=tuple(by_audit.get(a.id, [])),
                    groups=tuple(key_metrics(a.report_json, metrics)),
                )
                for a in audits
            ]
        return sorted(rows, key=release_key([r.audit for r in rows]))

    # -- verifying -------------------------------------------------------------------------

    def head_statement(self, signer: Ed25519PrivateKey | None = None) -> HeadStatement:
        """The log's head as a statement to publish, signed by ``signer`` when given.

        Stored elsewhere (minutes, a ticket, a transparency log), it lets
        :meth:`verify_log` tell a rewritten or truncated log later.
        """
        with db.read_connection(self.engine) as conn:
            head = conn.execute(select(HEAD_TABLE).where(ChainHead.id == 1)).one_or_none()
        if head is None or head.seq == 0:
            raise RegistryError(MSG_EMPTY_LOG)
        body: dict[str, Any] = {
            "statement": HEAD_STATEMENT,
            "registry": self.display_url,
            "seq": head.seq,
            "entry_sha256": head.entry_sha256,
            "stated_at": _utc_now(),
        }
        if signer is not None:
            body["signature"] = sign(signed_bytes(body), signer).to_dict()
        return HeadStatement.from_dict(body)

    def verify_log(
        self,
        *,
        expect_head: str | HeadStatement | None = None,
        nothing_after_head: bool = False,
    ) -> VerifyResult:
        """Recompute the chain from the first entry and compare the typed tables with it.

        Finds entries altered, deleted or inserted, typed rows that differ from
        their entry, and reports changed after they were recorded or signed off.
        ``expect_head``: a head hash or :class:`HeadStatement` published earlier,
        which must still be in the log (catches a rewrite or truncation of the whole
        chain). With trusted keys, every sign-off's signature and every report's
        signature must verify with one of them. ``nothing_after_head``: the
        published head must still be the last entry.
        """
        with db.read_connection(self.engine) as conn:
            return verify(
                conn,
                expect_head=expect_head,
                trusted_keys=self.trusted_keys,
                nothing_after_head=nothing_after_head,
            )


def _append_entry(
    conn: Connection, seq: int, kind: str, payload: Mapping[str, Any], prev: str
) -> str:
    text = canonical_json(payload)
    content = sha256_text(text)
    link = entry_hash(prev, content)
    conn.execute(
        insert(LogEntry).values(
            seq=seq,
            kind=kind,
            payload=text,
            content_sha256=content,
            prev_sha256=prev,
            entry_sha256=link,
        )
    )
    # the database's trigger moves chain_head to this entry (and refuses any other move)
    return link


def _insert_audit_row(conn: Connection, values: Mapping[str, Any]) -> None:
    """Insert the typed copy of an audit entry (a seam the crash test breaks)."""
    conn.execute(insert(AuditRow).values(**values))


def _one_line(value: str, field: str) -> None:
    """Identities are one line: a newline could forge a second line in every listing."""
    if isinstance(value, str) and line_break_in(value):
        raise RegistryError(MSG_LINE_BREAK.format(field=field, shown=escape_control(value)))


def _require(value: str, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise RegistryError(MSG_EMPTY.format(what=what))


def _check_lengths(values: Mapping[str, Any]) -> None:
    """Names must fit their columns (PostgreSQL refuses longer text; SQLite would keep it)."""
    for field in SHORT_TEXT_FIELDS:
        value = values.get(field)
        if isinstance(value, str) and len(value) > NAME_LEN:
            raise RegistryError(MSG_TOO_LONG.format(field=field, limit=NAME_LEN, start=value[:40]))


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
