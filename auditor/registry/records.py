"""What the registry hands back: recorded audits, sign-offs, history rows, verdicts on the log.

Plain frozen dataclasses, so the CLI, the dashboard and tests read them without a
database session. Also the rule that puts a model's audits in release order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from packaging.version import InvalidVersion, Version
from sqlalchemy import Row

from auditor.registry.models import AUDIT_LOGGED_FIELDS, SIGNOFF_LOGGED_FIELDS

SignoffStatus = Literal["unsigned", "approved", "rejected"]


@dataclass(frozen=True)
class AuditEntry:
    """A recorded audit (the report text itself is in :meth:`Registry.report_json`)."""

    audit_id: int
    seq: int
    model_name: str
    model_version: str | None
    report_name: str
    verdict: str
    ran_by: str
    recorded_at: str
    generated_at: str | None
    report_sha256: str
    provenance_sha256: dict[str, Any]
    report_dir: str | None

    @property
    def release(self) -> str:
        """The model version, or the audit number when the report names none."""
        return self.model_version or f"audit {self.audit_id}"


@dataclass(frozen=True)
class SignoffEntry:
    """One decision on one audit; ``report_sha256`` is the report text it decided on."""

    signoff_id: int
    seq: int
    audit_id: int
    signed_by: str
    role: str
    decision: str
    comment: str
    signed_at: str
    report_sha256: str
    signer_issuer: str | None = None
    """OIDC issuer of the signer's login (None: not authenticated)."""
    signer_subject: str | None = None
    """OIDC subject of the signer (None: not authenticated)."""
    authenticated: bool | None = None
    """True: identity from a login; False: a name typed by a local user; None: recorded before."""

    @property
    def signer(self) -> str:
        """Who signed, as a committee reads it: the name plus how it was established."""
        if self.authenticated:
            return f"{self.signed_by} [{self.signer_subject} at {self.signer_issuer}]"
        if self.authenticated is False:
            return f"{self.signed_by} (local, not authenticated)"
        return self.signed_by


@dataclass(frozen=True)
class SignerIdentity:
    """An authenticated person, as an identity provider vouches for them (OpenID Connect).

    ``issuer`` and ``subject`` are the provider's stable identifiers (``iss``, ``sub``);
    ``display_name`` and ``role`` are what people read. None may contain a line break.
    """

    issuer: str
    subject: str
    display_name: str
    role: str

    def to_dict(self) -> dict[str, str]:
        return {
            "issuer": self.issuer,
            "subject": self.subject,
            "display_name": self.display_name,
            "role": self.role,
        }


@dataclass(frozen=True)
class HeadStatement:
    """The log's head at a moment (``seq``, ``entry_sha256``), to store or post elsewhere.

    ``signature`` (a :class:`auditor.signing.Signature` as a dict) covers the
    canonical JSON of every other field.
    """

    statement: str
    registry: str
    seq: int
    entry_sha256: str
    stated_at: str
    signature: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "statement": self.statement,
            "registry": self.registry,
            "seq": self.seq,
            "entry_sha256": self.entry_sha256,
            "stated_at": self.stated_at,
        }
        if self.signature is not None:
            data["signature"] = dict(self.signature)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> HeadStatement:
        """Raises ValueError naming what is missing or of the wrong type."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        try:
            seq, sha = data["seq"], data["entry_sha256"]
        except KeyError as exc:
            raise ValueError(f"no {exc.args[0]!r}") from exc
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError(f"seq is {seq!r}, expected a whole number of at least 1")
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise ValueError(f"entry_sha256 is {sha!r}, expected 64 hexadecimal digits")
        signature = data.get("signature")
        return cls(
            statement=str(data.get("statement", "")),
            registry=str(data.get("registry", "")),
            seq=seq,
            entry_sha256=sha,
            stated_at=str(data.get("stated_at", "")),
            signature=dict(signature) if isinstance(signature, dict) else None,
        )


@dataclass(frozen=True)
class MetricValue:
    estimate: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class GroupMetrics:
    """Key metrics of one group in one audit; a suppressed group carries no numbers."""

    attribute: str
    group: str
    n: int | None
    suppressed: bool
    label_metrics_withheld: bool
    metrics: dict[str, MetricValue]


@dataclass(frozen=True)
class HistoryRow:
    """One audit of a model as the committee follows it across releases."""

    audit: AuditEntry
    signoff_status: SignoffStatus
    signoffs: tuple[SignoffEntry, ...]
    groups: tuple[GroupMetrics, ...]

    @property
    def audit_id(self) -> int:
        return self.audit.audit_id

    @property
    def release(self) -> str:
        return self.audit.release

    @property
    def verdict(self) -> str:
        return self.audit.verdict

    @property
    def last_signoff(self) -> SignoffEntry | None:
        return self.signoffs[-1] if self.signoffs else None


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of recomputing the log; ``problem`` is the first of ``problems`` by entry."""

    ok: bool
    entries: int
    first_bad: int | None
    problem: str | None
    problems: tuple[str, ...] = ()
    head_sha256: str | None = None
    """Hash of the last entry: publish it (minutes, ticket) to detect a later rewrite."""
    trusted_keys: int = 0
    """How many trusted public keys signatures were checked against (0: not checked)."""


def audit_entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        audit_id=row.id,
        seq=row.log_seq,
        provenance_sha256=json.loads(row.provenance_sha256),
        **{f: getattr(row, f) for f in AUDIT_LOGGED_FIELDS},
    )


def signoff_entry(row: Row[Any]) -> SignoffEntry:
    return SignoffEntry(
        signoff_id=row.id,
        seq=row.log_seq,
        **{f: getattr(row, f) for f in SIGNOFF_LOGGED_FIELDS},
    )


def signoff_status(signoffs: Sequence[SignoffEntry]) -> SignoffStatus:
    if not signoffs:
        return "unsigned"
    return "approved" if signoffs[-1].decision == "approve" else "rejected"


def release_key(audits: Sequence[AuditEntry]) -> Callable[[HistoryRow], Any]:
    versions = [a.model_version or "" for a in audits]
    if not all(versions):
        return lambda r: r.audit_id
    try:
        parsed = {v: Version(v) for v in versions}
    except InvalidVersion:
        return lambda r: (_natural_key(r.audit.model_version or ""), r.audit_id)
    return lambda r: (parsed[r.audit.model_version or ""], r.audit_id)


def _natural_key(text: str) -> tuple[tuple[int, Any], ...]:
    """``1.9`` before ``1.10``: digit runs compare as numbers."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part
    )
