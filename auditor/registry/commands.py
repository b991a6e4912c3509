"""Command-line subcommands of the registry: ``record``, ``history``, ``signoff``, ``verify-log``.

``auditor/cli.py`` calls :func:`add_registry_parsers`; each subcommand stores its
handler as ``args.handler`` (``handler(args) -> exit code``). Handlers compute
nothing themselves: they call :class:`Registry` and print. Bad input raises
:class:`auditor.errors.RegistryError`, which the CLI turns into exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.errors import EXIT_BLOCKING_FAILURE, EXIT_PASS, RegistryError, SignatureError
from auditor.registry.names import DECISIONS, ENV_REGISTRY, KEY_METRICS, default_registry_path
from auditor.safe_text import escape_control
from auditor.signing import (
    ENV_SIGN_KEY,
    ENV_TRUSTED_KEYS,
    Signature,
    load_private_key,
    load_trusted_keys,
    signature_problem,
)

if TYPE_CHECKING:
    from auditor.registry.records import (
        GroupMetrics,
        HeadStatement,
        HistoryRow,
        MetricValue,
        SignoffEntry,
    )
    from auditor.registry.service import Registry

EXIT_LOG_TAMPERED = EXIT_BLOCKING_FAILURE
MSG_WHO = "cannot tell who ran the audit from the login: give --ran-by NAME"
MSG_BAD_METRICS = "--metrics needs metric ids separated by commas, e.g. auroc,sensitivity"
MSG_NEEDS_KEY = f"log-head signs its statement: give --sign-key KEY or set {ENV_SIGN_KEY}"
MSG_BAD_HEAD = (
    "--expect-head {value}: neither a head hash (64 hexadecimal digits) nor a head statement "
    "file written by `auditor log-head` ({reason})"
)
MSG_TRUST_CHECKED = "signatures checked against {count} trusted key(s)"
MSG_TRUST_NONE = (
    "signatures not checked: no trusted keys (an append by someone with database write "
    "access is caught only by a published head)"
)
MSG_HEAD_SIGNATURE = "--expect-head {value}: the head statement cannot be trusted: {problem}"
MSG_HEAD_UNSIGNED = (
    "--expect-head {value}: the head statement is not signed, and trusted keys are configured"
)

_FORMATTER = argparse.RawDescriptionHelpFormatter


def add_registry_parsers(subparsers: Any) -> None:
    """Add ``record``, ``history``, ``signoff`` and ``verify-log`` to an argparse subparsers."""
    p = subparsers.add_parser(
        "record",
        help="record an audit report in the registry",
        description="Record the report of an audit (its report.json) in the registry:\n"
        "model name and version, verdict, provenance hashes, who ran it and when.\n"
        "The entry is appended to the tamper-evident log.",
        epilog="example:\n  auditor record audit-out/ --ran-by 'A. Analyst'",
        formatter_class=_FORMATTER,
    )
    p.add_argument(
        "report_dir",
        metavar="DIR",
        type=Path,
        help="the --out folder of `auditor audit` (or a report.json file)",
    )
    p.add_argument("--ran-by", metavar="NAME", help="who ran the audit (default: your login)")
    _add_registry_option(p)
    _add_trust_option(p)
    p.set_defaults(handler=run_record)

    p = subparsers.add_parser(
        "history",
        help="show a model's audits across releases",
        description="List every recorded audit of MODEL in release order with its verdict,\n"
        "sign-off status and key metrics per group (estimate and 95% interval).",
        epilog="example:\n  auditor history sepsis-risk --metrics auroc,sensitivity",
        formatter_class=_FORMATTER,
    )
    p.add_argument("model", metavar="MODEL", help="model name as in the report's model.name")
    p.add_argument(
        "--metrics",
        default=None,
        help="metric ids to show per group (default: the key metrics of each report's task; "
        f"binary: {','.join(KEY_METRICS)})",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_registry_option(p)
    p.set_defaults(handler=run_history)

    p = subparsers.add_parser(
        "signoff",
        help="approve or reject a recorded audit",
        description="Sign off a recorded audit. The sign-off names the SHA-256 of the report\n"
        "it decides on, so a report changed later no longer matches its approval.\n"
        "A rejection needs a comment.",
        epilog="example:\n  auditor signoff 3 --by 'Dr B. Chair' --role 'AI committee chair' "
        "--decision approve --comment 'Gaps within policy'",
        formatter_class=_FORMATTER,
    )
    p.add_argument(
        "audit_id", metavar="AUDIT_ID", type=int, help="audit number (see `auditor history MODEL`)"
    )
    p.add_argument("--by", required=True, metavar="NAME", help="who signs")
    p.add_argument("--role", required=True, metavar="ROLE", help="their role in the committee")
    p.add_argument("--decision", required=True, choices=DECISIONS)
    p.add_argument("--comment", default="", metavar="TEXT", help="the reasoning")
    _add_sign_option(p, "sign the sign-off with this Ed25519 private key (PEM)")
    _add_registry_option(p)
    _add_trust_option(p)
    p.set_defaults(handler=run_signoff)

    p = subparsers.add_parser(
        "verify-log",
        help="check that the registry's log was not changed",
        description="Recompute the hash chain of the registry's log from the first entry and\n"
        "report the first entry that was altered, deleted or inserted, and any report\n"
        "changed after it was recorded or signed off. Exit 0 when intact, 1 when not.",
        epilog="example:\n  auditor verify-log --registry postgresql+psycopg://auditor@db/registry",
        formatter_class=_FORMATTER,
    )
    p.add_argument(
        "--expect-head",
        metavar="SHA256_OR_FILE",
        help="a head hash printed earlier, or a head statement file from `auditor log-head`; "
        "it must still be in the log",
    )
    p.add_argument(
        "--nothing-after-head",
        action="store_true",
        help="with --expect-head: it must also be the last entry (nothing written since)",
    )
    _add_registry_option(p)
    _add_trust_option(p)
    p.set_defaults(handler=run_verify_log)

    p = subparsers.add_parser(
        "log-head",
        help="print a signed statement of the log's head, to store or post elsewhere",
        description="Print the registry log's head (entry number and hash) as a JSON statement\n"
        "signed with your Ed25519 key. Store it outside the database (minutes, ticket,\n"
        "release notes); `auditor verify-log --expect-head FILE` then detects a log\n"
        "rewritten or truncated after it.",
        epilog="example:\n  auditor log-head --sign-key chair.key > head-2026-12.json\n"
        "  auditor verify-log --expect-head head-2026-12.json --trusted-keys committee.pub",
        formatter_class=_FORMATTER,
    )
    _add_sign_option(p, "sign the statement with this Ed25519 private key (PEM)")
    _add_registry_option(p)
    p.set_defaults(handler=run_log_head)


def _add_registry_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        metavar="URL",
        default=None,
        help=f"database URL or SQLite file (default: ${ENV_REGISTRY}, else "
        f"{default_registry_path()})",
    )


def _add_trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trusted-keys",
        metavar="PATH",
        default=None,
        help="public keys (PEM file or folder) whose signatures are trusted "
        f"(default: ${ENV_TRUSTED_KEYS}; none: signatures are not required or judged)",
    )


def _add_sign_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument(
        "--sign-key", metavar="KEY", default=None, help=f"{text} (default: ${ENV_SIGN_KEY})"
    )


def _signer(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import os

    path = args.sign_key or os.environ.get(ENV_SIGN_KEY) or None
    return load_private_key(path) if path else None


def _open(args: argparse.Namespace) -> Registry:
    from auditor.registry.service import Registry

    trusted = load_trusted_keys(getattr(args, "trusted_keys", None))
    return Registry(args.registry, trusted_keys=trusted)


def run_record(args: argparse.Namespace) -> int:
    ran_by = args.ran_by or _login()
    with _open(args) as registry:
        entry = registry.record_dir(args.report_dir, ran_by=ran_by)
        print(
            escape_control(
                f"recorded audit {entry.audit_id}: {entry.model_name} {entry.release}, verdict "
                f"{entry.verdict}, log entry {entry.seq} (registry: {registry.display_url})"
            )
        )
    return EXIT_PASS


def run_history(args: argparse.Namespace) -> int:
    metrics: list[str] | None = None
    if args.metrics is not None:
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        if not metrics:
            raise RegistryError(MSG_BAD_METRICS)
    from auditor.registry.service import Registry

    with Registry(args.registry, trusted_keys={}) as registry:
        rows = registry.history(args.model, metrics=metrics)
        if metrics is None:
            from auditor.registry.report_facts import history_metrics

            metrics = history_metrics(rows)
        if args.json:
            print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        else:
            print(
                escape_control(
                    f"{args.model}: {len(rows)} audit(s) in release order "
                    f"(registry: {registry.display_url})"
                )
                + "\n"
            )
            print(format_history(rows, metrics))
    return EXIT_PASS


def run_signoff(args: argparse.Namespace) -> int:
    signer = _signer(args)
    with _open(args) as registry:
        entry = registry.signoff(
            args.audit_id,
            by=args.by,
            role=args.role,
            decision=args.decision,
            comment=args.comment,
            signer=signer,
        )
    signed = " signed;" if signer is not None else ""
    print(
        escape_control(
            f"audit {entry.audit_id} {_decided(entry)} by {entry.signed_by} ({entry.role});"
            f"{signed} report SHA-256 {entry.report_sha256}; log entry {entry.seq}"
        )
    )
    return EXIT_PASS


def _expected_head(value: str | None, registry: Registry) -> str | HeadStatement | None:
    """A bare head hash, or a head statement (file or JSON text) whose signature is checked."""
    import re

    from auditor.load.hashing import read_regular_file
    from auditor.registry.chain import signed_bytes
    from auditor.registry.records import HeadStatement

    if value is None or re.fullmatch(r"[0-9a-f]{64}", value):
        return value
    try:
        text = (
            value
            if value.lstrip().startswith("{")
            else read_regular_file(Path(value), error=RegistryError).decode("utf-8")
        )
        statement = HeadStatement.from_dict(json.loads(text))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError(MSG_BAD_HEAD.format(value=value, reason=exc)) from exc
    if registry.trusted_keys:
        if statement.signature is None:
            raise SignatureError(MSG_HEAD_UNSIGNED.format(value=value))
        signature = Signature.from_dict(statement.signature, source=value)
        problem = signature_problem(
            signed_bytes(statement.to_dict()), signature, registry.trusted_keys
        )
        if problem is not None:
            raise SignatureError(MSG_HEAD_SIGNATURE.format(value=value, problem=problem))
    return statement


def run_verify_log(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        expected = _expected_head(args.expect_head, registry)
        result = registry.verify_log(
            expect_head=expected, nothing_after_head=args.nothing_after_head
        )
    trust = (
        MSG_TRUST_CHECKED.format(count=result.trusted_keys)
        if result.trusted_keys
        else MSG_TRUST_NONE
    )
    if result.ok:
        print(f"log intact: {result.entries} entries")
        if result.head_sha256:
            print(f"head: {result.head_sha256} (publish it: `auditor log-head`)")
        print(trust)
        return EXIT_PASS
    print(escape_control(f"log TAMPERED: {result.problem}"))
    for other in result.problems[1:]:
        print(escape_control(f"  also: {other}"))
    print(trust)
    return EXIT_LOG_TAMPERED


def run_log_head(args: argparse.Namespace) -> int:
    signer = _signer(args)
    if signer is None:
        raise SignatureError(MSG_NEEDS_KEY)
    from auditor.registry.service import Registry

    with Registry(args.registry, trusted_keys={}) as registry:
        statement = registry.head_statement(signer)
    print(statement.to_json(), end="")
    return EXIT_PASS


HISTORY_LEGEND = (
    "suppressed = numbers withheld: too few patients, or hidden so that a smaller "
    "group's size cannot be worked out; withheld = outcome-based measures withheld: "
    "too few patients with or without the outcome, or to protect another group's count"
)


def format_history(rows: Sequence[HistoryRow], metrics: Sequence[str]) -> str:
    """Two plain-text tables: one line per audit, then key metrics per group and release."""
    audits = [["audit", "release", "recorded", "verdict", "sign-off"]]
    for row in rows:
        audits.append(
            [
                str(row.audit_id),
                row.release,
                _when(row.audit.recorded_at),
                row.verdict,
                _signoff_text(row),
            ]
        )
    groups = [["audit", "release", "attribute", "group", "n", *metrics]]
    for row in rows:
        for g in row.groups:
            cells = _group_cells(g, metrics)
            groups.append([str(row.audit_id), row.release, g.attribute, g.group, *cells])
    legend = f"key metrics per group: estimate [95% interval]\n{HISTORY_LEGEND}"
    return f"{_table(audits)}\n\n{legend}\n{_table(groups)}"


def _group_cells(g: GroupMetrics, metrics: Sequence[str]) -> list[str]:
    if g.suppressed:
        return ["suppressed", *([""] * len(metrics))]
    cells = ["" if g.n is None else str(g.n)]
    for metric in metrics:
        value = g.metrics.get(metric)
        cells.append(_metric_text(value, withheld=g.label_metrics_withheld))
    return cells


def _metric_text(value: MetricValue | None, *, withheld: bool) -> str:
    if value is None or value.estimate is None:
        if withheld:
            return "withheld"
        return "-" if value is None else "n/a"
    text = f"{value.estimate:.3f}"
    if value.ci_low is not None and value.ci_high is not None:
        text += f" [{value.ci_low:.3f}, {value.ci_high:.3f}]"
    return text


def _signoff_text(row: HistoryRow) -> str:
    last = row.last_signoff
    if last is None:
        return "unsigned"
    text = f"{_decided(last)} by {last.signed_by} ({last.role}) {last.signed_at[:10]}"
    if last.comment:
        text += f': "{last.comment}"'
    if len(row.signoffs) > 1:
        text += f" ({len(row.signoffs)} sign-offs)"
    return text


def _decided(entry: SignoffEntry) -> str:
    return "approved" if entry.decision == "approve" else "rejected"


def _when(iso: str) -> str:
    """``2025-11-25T12:52:09.632414Z`` -> ``2025-11-25 12:52Z``."""
    return f"{iso[:10]} {iso[11:16]}Z" if len(iso) >= 16 else iso


def _table(rows: Sequence[Sequence[str]]) -> str:
    rows = [[escape_control(cell) for cell in row] for row in rows]  # names are data
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:
        raise RegistryError(MSG_WHO) from exc
