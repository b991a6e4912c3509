"""The ``auditor`` command: a thin shell over the library (it computes no metric).

Exit codes are a contract for CI pipelines: 0 pass (or warn without
``--fail-on warn``), 1 a blocking policy failure, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from auditor.errors import EXIT_BAD_INPUT, EXIT_BLOCKING_FAILURE, EXIT_PASS, AuditorError

if TYPE_CHECKING:
    from reports.model import Report

EXIT_INTERNAL_ERROR = 3
FORMATS_ALL = ("json", "html", "pdf", "md", "junit")
FORMAT_UNKNOWN = "--formats: unknown format '{name}'; expected a comma-separated list of {choices}"
WAIVER_EXPIRED_WARNING = (
    "warning: the waiver of rule {rule} for group {group} expired on {expires}; it is "
    "ignored and the results it covered count again."
)
UNDECIDED_LISTED = 5
"""Undecided blocking checks named on the terminal (every one is in the reports)."""
THRESHOLD_RANGE = "--threshold: {value} is not a probability strictly between 0 and 1"
SEED_RANGE = "{value} is not a seed: expected a whole number from 0 to {limit}"
SIGN_NEEDS_JSON = "--sign-key signs report.json: include json in --formats"
REPORT_VERIFIED = "{file}: signature valid, by trusted key {key_id}"
REPORT_NOT_VERIFIED = "{file}: NOT VERIFIED: {problem}"
NO_TRUST_GIVEN = (
    "verify-report needs the public keys to trust: give --trusted-keys PATH or set {env}"
)
KEY_WRITTEN = "wrote private key {key} (keep it secret) and public key {pub} (key id {key_id})"

EPILOG_AUDIT = """examples:
  auditor audit spec.yaml --out audit
  auditor audit spec.yaml --out audit --policy four-fifths --policy my-policy.yaml
  auditor audit spec.yaml --out audit --threshold 0.15 --fail-on warn --formats json,md,junit
  auditor audit spec.yaml --out audit --baseline previous-release/report.json --record
"""


class Progress:
    """Step messages on stderr, only for a person at a terminal."""

    def __init__(self, *, quiet: bool, stream: TextIO = sys.stderr) -> None:
        self.enabled = not quiet and stream.isatty()
        self.stream = stream
        self.start = time.perf_counter()

    def __call__(self, step: str) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            print(f"[{elapsed:6.1f}s] {step}", file=self.stream, flush=True)


TASK_CHOICES = ("binary", "survival", "multiclass", "regression")
"""The spec's task: values (auditor.tasks.TASK_IDS; a literal here keeps --help fast)."""


def _formats(text: str) -> list[str]:
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    for name in names:
        if name not in FORMATS_ALL:
            raise AuditorError(FORMAT_UNKNOWN.format(name=name, choices=",".join(FORMATS_ALL)))
    return names


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(THRESHOLD_RANGE.format(value=text))
    return value


def _seed(text: str) -> int:
    from auditor.load.spec import MAX_SEED

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(SEED_RANGE.format(value=repr(text), limit=MAX_SEED))
    return value


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="folder for the reports")
    p.add_argument(
        "--policy",
        action="append",
        metavar="PACK_OR_FILE",
        help="policy pack name or file; repeat for several (replaces the spec's policy)",
    )
    p.add_argument(
        "--threshold",
        action="append",
        type=_threshold,
        metavar="T",
        help="decision threshold (score >= T is positive); repeat for several",
    )
    p.add_argument(
        "--engine",
        choices=("pandas", "streaming", "spark"),
        help="where rows are read and reduced (replaces the spec's engine.kind; see docs/scale.md)",
    )
    p.add_argument("--baseline", type=Path, help="report.json of the previous release")
    p.add_argument(
        "--fail-on",
        choices=("block", "warn"),
        default="block",
        help="exit 1 on blocking failures only (default) or on warnings too",
    )
    p.add_argument(
        "--formats",
        default=",".join(FORMATS_ALL),
        help="comma-separated subset of json,html,pdf,md,junit (default: all)",
    )
    p.add_argument("--seed", type=_seed, help="random seed (overrides the spec)")
    p.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument(
        "--record", action="store_true", help="record the audit in the registry after writing"
    )
    p.add_argument("--registry", metavar="URL", help="registry database URL (see `history`)")
    p.add_argument("--ran-by", metavar="NAME", help="who ran the audit (default: user name)")
    p.add_argument(
        "--sign-key",
        metavar="KEY",
        help="sign report.json with this Ed25519 private key (PEM); writes report.json.sig",
    )
    p.add_argument(
        "--trusted-keys",
        metavar="PATH",
        help="with --record: public keys the registry trusts (default: $AUDITOR_TRUSTED_KEYS)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditor",
        description="Audit a clinical model for subgroup performance, fairness and policy "
        "compliance, and write JSON, HTML, PDF, Markdown and JUnit reports.",
        epilog="Run `auditor demo --out audit-demo` to see a complete audit of the bundled "
        "example. Exit codes: 0 pass, 1 blocking policy failure, 2 bad input or usage, "
        "3 internal error. Every command accepts --debug (show tracebacks).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "audit",
        help="audit a model as described by a spec",
        epilog=EPILOG_AUDIT,
        formatter_class=fmt,
    )
    p.add_argument("spec", type=Path, help="audit spec (YAML or JSON)")
    _add_run_options(p)

    p = sub.add_parser(
        "demo",
        help="audit the bundled clinical example",
        epilog="example:\n  auditor demo --out audit-demo\n"
        "  auditor demo --task survival --out audit-survival",
        formatter_class=fmt,
    )
    _add_run_options(p)
    p.add_argument(
        "--task",
        choices=TASK_CHOICES,
        default="binary",
        help="which bundled example: binary (hospital admission, default), survival "
        "(one-year mortality after MI), multiclass (ordinal), regression",
    )
    p.set_defaults(out=Path("audit-demo"))
    for action in p._actions:
        if action.dest == "out":
            action.required = False
            action.help = "folder for the reports (default: audit-demo)"

    p = sub.add_parser(
        "init",
        help="write a commented starter spec for a data file",
        epilog="example:\n  auditor init cohort.csv && auditor audit audit-spec.yaml --out audit",
        formatter_class=fmt,
    )
    p.add_argument("data", type=Path, help="CSV or Parquet file")
    p.add_argument("--out", type=Path, help="spec path (default: audit-spec.yaml beside the data)")
    p.add_argument(
        "--no-input",
        action="store_true",
        help="never ask at the terminal: keep every best guess (marked unsure in the output)",
    )

    p = sub.add_parser(
        "discover",
        help="search for underperforming cohorts nobody named (FDR-controlled)",
        epilog="example:\n  auditor discover spec.yaml\n  auditor discover spec.yaml --json",
        formatter_class=fmt,
    )
    p.add_argument("spec", type=Path, help="audit spec (its discover: block, else defaults)")
    p.add_argument("--seed", type=int, help="seed of the search/confirm split")
    p.add_argument("--json", action="store_true", help="print the section as JSON")

    p = sub.add_parser(
        "validate-spec",
        help="check a spec: schema, files, columns",
        epilog="example:\n  auditor validate-spec spec.yaml",
        formatter_class=fmt,
    )
    p.add_argument("spec", type=Path)

    p = sub.add_parser(
        "validate-policy",
        help="check a policy file against the policy schema",
        epilog="example:\n  auditor validate-policy my-policy.yaml",
        formatter_class=fmt,
    )
    p.add_argument("policy", type=Path)

    p = sub.add_parser(
        "policies",
        help="list the shipped policy packs",
        epilog="example:\n  auditor policies",
        formatter_class=fmt,
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "metrics",
        help="list the metric registry",
        epilog="example:\n  auditor metrics\n  auditor metrics --task survival",
        formatter_class=fmt,
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--task",
        choices=TASK_CHOICES,
        default="binary",
        help="whose registry to list: binary (default), survival, multiclass or regression",
    )

    p = sub.add_parser(
        "compare",
        help="what changed between two audits; exit 1 on a new blocking failure",
        epilog="example:\n  auditor compare release-1.0/report.json release-1.1/report.json",
        formatter_class=fmt,
    )
    p.add_argument("before", type=Path, help="earlier report.json (or its folder)")
    p.add_argument("after", type=Path, help="later report.json (or its folder)")
    p.add_argument("--all", action="store_true", help="show every metric delta, not only changes")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "keygen",
        help="create an Ed25519 key pair for signing reports, sign-offs and log heads",
        epilog="example:\n  auditor keygen chair.key   # writes chair.key and chair.key.pub",
        formatter_class=fmt,
    )
    p.add_argument("key", type=Path, help="private key file to create (its .pub beside it)")

    p = sub.add_parser(
        "sign-report",
        help="sign an existing report.json (writes report.json.sig beside it)",
        epilog="example:\n  auditor sign-report audit/ --sign-key analyst.key",
        formatter_class=fmt,
    )
    p.add_argument("report", type=Path, help="report.json or its folder")
    p.add_argument("--sign-key", metavar="KEY", required=True, help="Ed25519 private key (PEM)")

    p = sub.add_parser(
        "verify-report",
        help="check a report.json's signature against trusted public keys",
        description="Verify report.json.sig over the exact bytes of report.json with one of\n"
        "the trusted public keys. Exit 0 when valid, 1 when not, 2 on bad input.",
        epilog="example:\n  auditor verify-report audit/ --trusted-keys committee.pub",
        formatter_class=fmt,
    )
    p.add_argument("report", type=Path, help="report.json or its folder")
    p.add_argument("--trusted-keys", metavar="PATH", help="public keys (PEM file or folder)")

    from auditor.registry.commands import add_registry_parsers

    add_registry_parsers(sub)
    return parser


# ---------------------------------------------------------------- commands


def _run(args: argparse.Namespace, spec_path: Path) -> int:
    from auditor.audit import build_report, prepare, read_report, with_overrides
    from auditor.load.spec_loader import load_spec, validate_spec
    from auditor.output import check_output_dir, publish, staging_dir
    from reports import render

    progress = Progress(quiet=args.quiet)
    formats = _formats(args.formats)
    progress(f"reading spec {spec_path}")
    spec = load_spec(spec_path)
    policy_refs = [_policy_ref(p) for p in args.policy] if args.policy else None
    spec = with_overrides(
        spec,
        policies=policy_refs,
        thresholds=args.threshold,
        seed=args.seed,
        engine=getattr(args, "engine", None),
    )
    validate_spec(spec)
    inputs = [spec_path, spec.data]
    if spec.model.path is not None:
        inputs.append(spec.model.path)
    if args.baseline is not None:
        inputs.append(args.baseline)
    check_output_dir(args.out, force=args.force, inputs=inputs)
    baseline, baseline_sha = read_report(args.baseline) if args.baseline else (None, None)
    policies = _policies(spec, spec_path, from_cli=bool(args.policy))
    prepared = prepare(spec, progress=progress)
    report = build_report(
        prepared,
        policies=policies,
        baseline=baseline,
        baseline_sha256=baseline_sha,
        progress=progress,
    )
    signing_key = None
    if args.sign_key:
        from auditor.signing import load_private_key

        if "json" not in formats:
            raise AuditorError(SIGN_NEEDS_JSON)
        signing_key = load_private_key(args.sign_key)
    progress(f"rendering {', '.join(formats)}")
    signature = None
    with staging_dir(args.out) as tmp:
        render(report, tmp, formats)
        if signing_key is not None:
            signature = _sign_report_file(tmp / "report.json", signing_key)
        publish(tmp, args.out)
    record_note = ""
    if args.record:
        from auditor.load.hashing import read_regular_file
        from auditor.registry import Registry
        from auditor.signing import load_trusted_keys

        written = args.out / "report.json"
        text = read_regular_file(written).decode("utf-8") if written.exists() else report.to_json()
        with Registry(args.registry, trusted_keys=load_trusted_keys(args.trusted_keys)) as reg:
            entry = reg.record(
                report,
                report_json=text,
                ran_by=args.ran_by or _user(),
                report_dir=args.out,
                signature=signature,
                source=str(written),
            )
        record_note = f"; recorded as audit {entry.audit_id}"
    from auditor.judge.verdict import verdict_summary

    summary = verdict_summary(report.policy_results)
    fails_gate = report.verdict == "fail" or (args.fail_on == "warn" and report.verdict == "warn")
    for waiver in report.waivers:
        if waiver.status == "expired":
            print(
                WAIVER_EXPIRED_WARNING.format(
                    rule=waiver.rule, group=waiver.group, expires=waiver.expires
                ),
                file=sys.stderr,
            )
    if report.cohorts_found is not None:
        _print_cohorts(report)
    from reports.findings import decide_sentences

    for sentence in decide_sentences(report, limit=UNDECIDED_LISTED):
        print(sentence if sentence.startswith("…") else f"would decide it: {sentence}")
    if summary.undecided:
        print(summary.undecided_text(limit=UNDECIDED_LISTED))
    print(
        f"verdict: {report.verdict.upper()} — {summary.counts_text()}; "
        f"reports in {args.out}/{record_note}"
    )
    return EXIT_BLOCKING_FAILURE if fails_gate else EXIT_PASS


COHORTS_LISTED = 5


def _print_cohorts(report: Report) -> None:
    """The "Cohorts found" section in a few lines (every face shows it)."""
    from auditor.safe_text import escape_control
    from reports.cohorts import SECTION_TITLE, cohorts_lines, cohorts_summary, method_text

    print(f"{SECTION_TITLE}: {cohorts_summary(report)}")
    for line in cohorts_lines(report, limit=COHORTS_LISTED):
        print(f"  {escape_control(line)}")
    if method_text(report):
        print(f"  {method_text(report)}")


def _sign_report_file(path: Path, key):  # type: ignore[no-untyped-def]
    """Sign the bytes of ``path`` and write the signature to ``path.sig``; return it."""
    from auditor.load.hashing import read_regular_file
    from auditor.signing import SIGNATURE_SUFFIX, sign

    signature = sign(read_regular_file(path), key)
    path.with_name(path.name + SIGNATURE_SUFFIX).write_text(signature.to_json())
    return signature


def _report_path(path: Path) -> Path:
    return path / "report.json" if path.is_dir() else path


def cmd_keygen(args: argparse.Namespace) -> int:
    from auditor.signing import generate_key

    public, key_id = generate_key(args.key)
    print(KEY_WRITTEN.format(key=args.key, pub=public, key_id=key_id))
    return EXIT_PASS


def cmd_sign_report(args: argparse.Namespace) -> int:
    from auditor.signing import load_private_key

    path = _report_path(args.report)
    signature = _sign_report_file(path, load_private_key(args.sign_key))
    print(f"signed {path} with key {signature.key_id}: {path}.sig")
    return EXIT_PASS


def cmd_verify_report(args: argparse.Namespace) -> int:
    from auditor.errors import SignatureError
    from auditor.load.hashing import read_regular_file
    from auditor.signing import (
        ENV_TRUSTED_KEYS,
        SIGNATURE_SUFFIX,
        Signature,
        load_trusted_keys,
        signature_problem,
    )

    trusted = load_trusted_keys(args.trusted_keys)
    if not trusted:
        raise SignatureError(NO_TRUST_GIVEN.format(env=ENV_TRUSTED_KEYS))
    path = _report_path(args.report)
    content = read_regular_file(path, error=SignatureError)
    sig_path = path.with_name(path.name + SIGNATURE_SUFFIX)
    if not sig_path.exists():
        print(REPORT_NOT_VERIFIED.format(file=path, problem=f"{sig_path.name} is missing"))
        return EXIT_BLOCKING_FAILURE
    signature = Signature.read(sig_path)
    problem = signature_problem(content, signature, trusted)
    if problem is not None:
        print(REPORT_NOT_VERIFIED.format(file=path, problem=problem))
        return EXIT_BLOCKING_FAILURE
    print(REPORT_VERIFIED.format(file=path, key_id=signature.key_id))
    return EXIT_PASS


def _policies(spec, spec_path: Path, *, from_cli: bool):  # type: ignore[no-untyped-def]
    """Load the audit's policies; an unknown pack is reported against where it was named."""
    from auditor.errors import PolicyError
    from auditor.judge.policy import load_policies

    try:
        return load_policies(spec.policies, base_dir=spec_path.resolve().parent)
    except PolicyError as exc:
        if not exc.message.startswith("unknown policy pack"):
            raise
        where = "--policy" if from_cli else f"{spec_path}: $.policy"
        raise PolicyError(f"{where}: {exc.message}") from None


def _policy_ref(ref: str) -> str:
    """Pack names stay names; anything path-like becomes an absolute path (from the cwd)."""
    p = Path(ref)
    if p.suffix.lower() in (".yaml", ".yml", ".json") or "/" in ref or os.sep in ref:
        return str(p.resolve())
    return ref


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def cmd_audit(args: argparse.Namespace) -> int:
    return _run(args, args.spec)


def cmd_discover(args: argparse.Namespace) -> int:
    """The discovery search alone: the same section the audit's reports show."""
    import dataclasses

    from auditor.audit import discover_prepared, prepare
    from auditor.load.spec import DiscoverSpec
    from auditor.load.spec_loader import load_spec, validate_spec

    spec = load_spec(args.spec)
    block = spec.discover or DiscoverSpec()
    if args.seed is not None:
        block = dataclasses.replace(block, seed=args.seed)
    spec = dataclasses.replace(spec, discover=block)
    validate_spec(spec)
    found = discover_prepared(prepare(spec))
    assert found is not None
    if args.json:
        print(found.model_dump_json(indent=2))
        return EXIT_PASS
    from auditor.safe_text import escape_control
    from reports.cohorts import SECTION_TITLE, cohort_row

    print(f"{SECTION_TITLE}: {found.summary}")
    for c in found.cohorts:
        row = cohort_row(c, min_size=found.searched.min_size, min_events=found.searched.min_events)
        print(f"  {escape_control(row.line())}")
    if found.searched.features_skipped:
        print(escape_control(f"not searched: {'; '.join(found.searched.features_skipped)}"))
    return EXIT_PASS


def cmd_demo(args: argparse.Namespace) -> int:
    from auditor.load.examples import demo_spec_path

    return _run(args, demo_spec_path(getattr(args, "task", "binary")))


def _terminal_ask(question: str, options: list[str], default: str) -> str:
    """Ask one question at a terminal; Enter keeps the guess."""
    print(f"{question} [{default}] (options: {', '.join(options)})", file=sys.stderr)
    try:
        answer = input("> ").strip()
    except EOFError:
        return default
    return answer if answer in options else default


def cmd_init(args: argparse.Namespace) -> int:
    from auditor.init_spec import init_spec

    ask = _terminal_ask if sys.stdin.isatty() and not args.no_input else None
    spec_path, guess = init_spec(args.data, args.out, ask=ask)
    for decision in guess.decisions:
        print(f"guessed {decision.line()}")
    for note in guess.notes:
        print(f"note: {note}")
    print(f"wrote {spec_path}; review it, then run: auditor audit {spec_path} --out audit")
    return EXIT_PASS


def cmd_validate_spec(args: argparse.Namespace) -> int:
    from auditor.audit import prepare
    from auditor.load.spec_loader import load_spec, validate_spec

    spec = load_spec(args.spec)
    validate_spec(spec)
    _policies(spec, args.spec, from_cli=False)
    prepared = prepare(spec)  # reads every row and scores it: labels, scores, trust, hashes
    columns = ", ".join(c for _, c in spec.task.score_columns)
    model = (
        (spec.model.score_column and f"score column '{spec.model.score_column}'")
        or (columns and f"score columns {columns}")
        or (f"model {spec.model.path.name}" if spec.model.path else "no model")
    )
    from auditor.tasks import DEFAULT_TASK

    task = "" if spec.task.id == DEFAULT_TASK else f"task {spec.task.id}, "
    print(
        f"{args.spec}: valid — {task}data {spec.data.name} ({len(prepared.scores):,} "
        f"patients), label '{spec.label.column}', {model}, sensitive {', '.join(spec.sensitive)}"
    )
    return EXIT_PASS


def cmd_validate_policy(args: argparse.Namespace) -> int:
    from auditor.judge.policy import validate_policy_file

    policy = validate_policy_file(args.policy)
    print(
        f"{args.policy}: valid — policy '{policy.id}' v{policy.version}, {len(policy.rules)} rules"
    )
    return EXIT_PASS


def cmd_policies(args: argparse.Namespace) -> int:
    from auditor.judge.policy import list_packs

    packs = list_packs()
    if args.json:
        print(json.dumps([p.model_dump(mode="json") for p in packs], indent=2))
        return EXIT_PASS
    width = max(len(p.id) for p in packs)
    for p in packs:
        print(f"{p.id:<{width}}  {p.rule_count:>3} rules  {p.title}")
        if p.description:
            print(f"{'':<{width}}             {p.description}")
    return EXIT_PASS


def cmd_metrics(args: argparse.Namespace) -> int:
    from auditor.tasks import task_metrics

    METRICS = task_metrics(getattr(args, "task", "binary"))
    if args.json:
        rows = [
            {
                "id": m.id,
                "name": m.name,
                "direction": m.direction,
                "needs_threshold": m.needs_threshold,
                "reference": m.reference,
                "meaning": m.meaning,
            }
            for m in METRICS.values()
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_PASS
    for m in METRICS.values():
        t = " (at threshold)" if m.needs_threshold else ""
        print(f"{m.id:<22} {m.name}{t} — {m.meaning} [{m.direction}; reference: {m.reference}]")
    return EXIT_PASS


def cmd_compare(args: argparse.Namespace) -> int:
    from auditor.audit import load_report
    from auditor.judge.compare import compare_reports, comparison_summary, format_comparison

    comparison = compare_reports(load_report(args.before), load_report(args.after))
    s = comparison_summary(comparison)
    blocking = s["new_blocking_failures"]
    if args.json:  # stdout is the JSON document only; warnings are in it and on stderr
        print(comparison.to_json(), end="")
        for warning in comparison.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return EXIT_BLOCKING_FAILURE if blocking else EXIT_PASS
    print(format_comparison(comparison, only_changed=not args.all))
    print(
        f"compare: {s['changed_beyond_interval']} metrics moved beyond the earlier interval, "
        f"{s['new_failures']} new failures ({blocking} blocking), "
        f"{s['resolved_failures']} resolved"
    )
    return EXIT_BLOCKING_FAILURE if blocking else EXIT_PASS


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "audit": cmd_audit,
    "demo": cmd_demo,
    "discover": cmd_discover,
    "init": cmd_init,
    "validate-spec": cmd_validate_spec,
    "validate-policy": cmd_validate_policy,
    "policies": cmd_policies,
    "metrics": cmd_metrics,
    "compare": cmd_compare,
    "keygen": cmd_keygen,
    "sign-report": cmd_sign_report,
    "verify-report": cmd_verify_report,
}


def _show_warning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
    """Warnings (e.g. a lowered privacy floor) as one plain line, not Python's source dump."""
    print(f"warning: {message}", file=sys.stderr)


class _QuietPipe:
    """stdout that, once its reader has gone (``auditor ... | head -1``), drops the rest.

    The command still runs to its end and returns its usual exit status; the
    descriptor is pointed at ``/dev/null`` so Python's final flush cannot fail either.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def _silence(self) -> None:
        self.closed_by_reader = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if self.closed_by_reader:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._silence()
            return len(text)

    def flush(self) -> None:
        if self.closed_by_reader:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._silence()

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    if not isinstance(sys.stdout, _QuietPipe) and hasattr(sys.stdout, "fileno"):
        try:
            sys.stdout.fileno()
            sys.stdout = _QuietPipe(sys.stdout)  # type: ignore[assignment]
        except (OSError, ValueError):  # captured output in tests: nothing to protect
            pass
    argv = list(sys.argv[1:] if argv is None else argv)
    debug_flag = "--debug" in argv
    if debug_flag and (argv[0] if argv else "") not in ("audit", "demo"):
        argv.remove("--debug")  # every command accepts --debug; audit and demo parse it
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    if args.version:
        from auditor.audit import tool_version

        print(f"auditor {tool_version()}")
        return EXIT_PASS
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    if handler is None:
        parser.error(f"unknown command {args.command}")
    debug = debug_flag or os.environ.get("AUDITOR_DEBUG") == "1"
    try:
        return int(handler(args))
    except AuditorError as exc:
        if debug:
            traceback.print_exc()
        # messages quote names and values from the inputs: escape what a terminal would obey
        from auditor.safe_text import escape_control

        shown = "\n".join(escape_control(line) for line in exc.message.split("\n"))
        print(f"error: {shown}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: no report was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # a write outside print(): the reader has gone, say nothing
        if isinstance(sys.stdout, _QuietPipe):
            sys.stdout._silence()
        return EXIT_PASS
    except Exception as exc:  # a bug, not bad input: say so, keep the traceback for --debug
        if debug:
            traceback.print_exc()
        print(
            f"internal error: {type(exc).__name__}: {exc}. This is a bug in auditor; "
            "rerun with --debug and report the traceback.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
