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
from typing import Any

from auditor.errors import EXIT_BLOCKING_FAILURE, EXIT_PASS, RegistryError
from auditor.registry.db import ENV_REGISTRY, default_registry_path
from auditor.registry.records import GroupMetrics, HistoryRow, MetricValue, SignoffEntry
from auditor.registry.report_facts import KEY_METRICS
from auditor.registry.service import DECISIONS, Registry

EXIT_LOG_TAMPERED = EXIT_BLOCKING_FAILURE
MSG_WHO = "cannot tell who ran the audit from the login: give --ran-by NAME"
MSG_BAD_METRICS = "--metrics needs metric ids separated by commas, e.g. auroc,sensitivity"

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
        default=",".join(KEY_METRICS),
        help="metric ids to show per group (default: %(default)s)",
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
    _add_registry_option(p)
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
        metavar="SHA256",
        help="a head hash printed earlier; it must still be in the log",
    )
    _add_registry_option(p)
    p.set_defaults(handler=run_verify_log)


def _add_registry_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        metavar="URL",
        default=None,
        help=f"database URL or SQLite file (default: ${ENV_REGISTRY}, else "
        f"{default_registry_path()})",
    )


def run_record(args: argparse.Namespace) -> int:
    ran_by = args.ran_by or _login()
    with Registry(args.registry) as registry:
        entry = registry.record_dir(args.report_dir, ran_by=ran_by)
        print(
            f"recorded audit {entry.audit_id}: {entry.model_name} {entry.release}, verdict "
            f"{entry.verdict}, log entry {entry.seq} (registry: {registry.display_url})"
        )
    return EXIT_PASS


def run_history(args: argparse.Namespace) -> int:
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if not metrics:
        raise RegistryError(MSG_BAD_METRICS)
    with Registry(args.registry) as registry:
        rows = registry.history(args.model, metrics=metrics)
        if args.json:
            print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        else:
            print(
                f"{args.model}: {len(rows)} audit(s) in release order "
                f"(registry: {registry.display_url})\n"
            )
            print(format_history(rows, metrics))
    return EXIT_PASS


def run_signoff(args: argparse.Namespace) -> int:
    with Registry(args.registry) as registry:
        entry = registry.signoff(
            args.audit_id, by=args.by, role=args.role, decision=args.decision, comment=args.comment
        )
    print(
        f"audit {entry.audit_id} {_decided(entry)} by {entry.signed_by} ({entry.role}); "
        f"report SHA-256 {entry.report_sha256}; log entry {entry.seq}"
    )
    return EXIT_PASS


def run_verify_log(args: argparse.Namespace) -> int:
    with Registry(args.registry) as registry:
        result = registry.verify_log(expect_head=args.expect_head)
    if result.ok:
        print(f"log intact: {result.entries} entries")
        if result.head_sha256:
            print(f"head: {result.head_sha256} (publish it; later check with --expect-head)")
        return EXIT_PASS
    print(f"log TAMPERED: {result.problem}")
    for other in result.problems[1:]:
        print(f"  also: {other}")
    return EXIT_LOG_TAMPERED


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
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:
        raise RegistryError(MSG_WHO) from exc
