"""The hash chain behind the tamper-evident log, as pure functions.

Each log entry stores the SHA-256 of its own canonical content and of the entry
before it; ``entry_sha256 = sha256(prev_sha256 + content_sha256)``. Changing,
removing or inserting any entry breaks a link that :func:`check_chain` finds by
recomputing everything from the first entry. Nothing here touches a database,
so the rules are testable on plain values and shared by every backend.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_SHA256 = "0" * 64
"""The ``prev_sha256`` of the first entry: there is nothing before it."""

ENTRY_KINDS = ("audit", "signoff")

MSG_CONTENT_ALTERED = "{entry} was altered: its content hash does not match"
MSG_ENTRY_HASH_ALTERED = "{entry} was altered: its entry hash does not match its content and link"
MSG_MOVED = "{entry} was altered: its content says it is entry {claimed_seq} ({claimed_kind})"
MSG_DELETED_ONE = "entry {first} was deleted: the log jumps from entry {before} to entry {after}"
MSG_DELETED_MANY = (
    "entries {first} to {last} were deleted: the log jumps from entry {before} to entry {after}"
)
MSG_DELETED_FIRST = "entry 1 was deleted: the log starts at entry 2"
MSG_DELETED_START = "entries 1 to {last} were deleted: the log starts at entry {after}"
MSG_INSERTED = "{entry} was inserted: entry {next_seq} links to entry {before}, the one before it"
MSG_BAD_LINK = (
    "{entry} does not link to entry {before}: an entry before it was inserted, deleted or altered"
)


def canonical_json(payload: Mapping[str, Any]) -> str:
    """One text per payload (sorted keys, no spaces), so its hash is reproducible anywhere."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def signed_bytes(payload: Mapping[str, Any]) -> bytes:
    """What an entry's or statement's ``signature`` covers: its canonical JSON without it.

    The payload holds its own ``seq`` and ``kind``, so a signed entry cannot be moved.
    """
    return canonical_json({k: v for k, v in payload.items() if k != "signature"}).encode("utf-8")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_hash(prev_sha256: str, content_sha256: str) -> str:
    """Link an entry to its predecessor: the hash of both hashes, as hex text."""
    return sha256_text(prev_sha256 + content_sha256)


@dataclass(frozen=True)
class ChainEntry:
    """One stored log entry as the verifier sees it (a row of ``log_entries``)."""

    seq: int
    kind: str
    payload: str
    content_sha256: str
    prev_sha256: str
    entry_sha256: str


@dataclass(frozen=True)
class ChainProblem:
    """Where the chain broke (``seq`` of the first entry concerned) and what a reader is told."""

    seq: int
    message: str


def describe_entry(seq: int, kind: str, payload: str) -> str:
    """Name an entry as a person would: ``entry 7 (signoff of audit 3)``."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return f"entry {seq}"
    if kind == "signoff" and "audit_id" in data:
        return f"entry {seq} (signoff of audit {data['audit_id']})"
    if kind == "audit" and "audit_id" in data:
        model = " ".join(str(p) for p in (data.get("model_name"), data.get("model_version")) if p)
        return (
            f"entry {seq} (audit {data['audit_id']} of {model})"
            if model
            else (f"entry {seq} (audit {data['audit_id']})")
        )
    return f"entry {seq} ({kind})"


def check_chain(entries: Iterable[ChainEntry]) -> tuple[int, str, list[ChainProblem]]:
    """Recompute the chain from the first entry.

    ``entries`` must be in ascending ``seq`` order. Returns the number of entries,
    the hash of the last one as stored (the head) and every problem found. After a
    broken link the walk continues from the stored entry, so one deletion yields
    one problem rather than one per later entry.
    """
    problems: list[ChainProblem] = []
    count = 0
    expected_seq = 1
    prev_hash = GENESIS_SHA256
    prev_prev_hash: str | None = None
    prev_label: str | None = None
    prev_seq = 0
    for entry in entries:
        count += 1
        label = describe_entry(entry.seq, entry.kind, entry.payload)
        if entry.seq > expected_seq:
            problems.append(ChainProblem(expected_seq, _deleted_message(expected_seq, entry.seq)))
        elif entry.prev_sha256 != prev_hash:
            if prev_label is not None and entry.prev_sha256 == prev_prev_hash:
                problems.append(
                    ChainProblem(
                        prev_seq,
                        MSG_INSERTED.format(
                            entry=prev_label, next_seq=entry.seq, before=prev_seq - 1
                        ),
                    )
                )
            else:
                problems.append(
                    ChainProblem(entry.seq, MSG_BAD_LINK.format(entry=label, before=entry.seq - 1))
                )
        if not _content_matches(entry):
            problems.append(ChainProblem(entry.seq, MSG_CONTENT_ALTERED.format(entry=label)))
        elif entry.entry_sha256 != entry_hash(entry.prev_sha256, entry.content_sha256):
            problems.append(ChainProblem(entry.seq, MSG_ENTRY_HASH_ALTERED.format(entry=label)))
        else:
            claimed = _claimed_position(entry.payload)
            if claimed is not None and claimed != (entry.seq, entry.kind):
                problems.append(
                    ChainProblem(
                        entry.seq,
                        MSG_MOVED.format(
                            entry=label, claimed_seq=claimed[0], claimed_kind=claimed[1]
                        ),
                    )
                )
        prev_prev_hash, prev_hash = prev_hash, entry.entry_sha256
        prev_label, prev_seq = label, entry.seq
        expected_seq = entry.seq + 1
    return count, prev_hash, problems


def _content_matches(entry: ChainEntry) -> bool:
    return sha256_text(entry.payload) == entry.content_sha256


def _claimed_position(payload: str) -> tuple[int, str] | None:
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return (data.get("seq"), data.get("kind"))  # type: ignore[return-value]


def _deleted_message(first_missing: int, found: int) -> str:
    last_missing = found - 1
    if first_missing == 1 and last_missing == 1:
        return MSG_DELETED_FIRST
    if first_missing == 1:
        return MSG_DELETED_START.format(last=last_missing, after=found)
    if first_missing == last_missing:
        return MSG_DELETED_ONE.format(first=first_missing, before=first_missing - 1, after=found)
    return MSG_DELETED_MANY.format(
        first=first_missing, last=last_missing, before=first_missing - 1, after=found
    )
