"""Caching: load, score and reduce once per input; re-measure only what the user changed.

Keys are SHA-256 hashes of the input files (spec, data, model), so an edited
file is a new input while a rerun of the page is not. Library objects that
Streamlit cannot hash (the spec, the prepared statistics) are passed with a
leading underscore and identified by that key instead.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from auditor.dashboard.trust import LOCAL_TRUST, Trust, enforce
from auditor.errors import AuditorError
from auditor.load.hashing import sha256_bytes, sha256_path
from reports.model import DataChecks, Explanations, Report

T = TypeVar("T")

ENV_QUICK_BOOTSTRAP = "AUDITOR_DASHBOARD_BOOTSTRAP"
ENV_FULL_BOOTSTRAP = "AUDITOR_DASHBOARD_FULL_BOOTSTRAP"
QUICK_BOOTSTRAP_DEFAULT = 0
"""Replicates on the interactive path: Wilson intervals only, so the slider stays fast."""
BOOTSTRAP_ENV_INVALID = "{name}: expected a whole number of bootstrap replicates, got {value!r}"


HIDE_KEY = "_hide_paths"
"""Session state: a function that removes server paths from messages (served mode)."""


def message(exc: AuditorError) -> str:
    """The error's message as this session may read it (server paths removed when served)."""
    hide = st.session_state.get(HIDE_KEY)
    return hide(str(exc)) if callable(hide) else str(exc)


def guarded(call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run a library call; a user-fixable error becomes ``st.error`` with the CLI's message."""
    try:
        return call(*args, **kwargs)
    except AuditorError as exc:
        st.error(message(exc))
        return None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    if not value.strip().isdigit():
        raise AuditorError(BOOTSTRAP_ENV_INVALID.format(name=name, value=value))
    return int(value)


def quick_bootstrap() -> int:
    """Replicates for the interactive path (threshold slider, reference groups)."""
    value = _env_int(ENV_QUICK_BOOTSTRAP)
    return QUICK_BOOTSTRAP_DEFAULT if value is None else value


def full_bootstrap(spec_bootstrap: int) -> int:
    """Replicates for 'compute full intervals': the spec's own count unless overridden."""
    value = _env_int(ENV_FULL_BOOTSTRAP)
    return spec_bootstrap if value is None else value


@st.cache_data(show_spinner=False, max_entries=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_path(path)


def digest(path: Path) -> str:
    """SHA-256 of a file (folders: the tree hash), hashed again only when the file changed."""
    if path.is_dir():
        return sha256_path(path)
    if not path.exists():
        return "missing"
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


@dataclass
class LiveAudit:
    """An audit the dashboard can re-measure: everything that depends only on the inputs."""

    key: str
    spec: Any  # AuditSpec
    prepared: Any  # auditor.audit.Prepared
    policies: list[Any]  # auditor.judge.policy.Policy
    explanations: Explanations
    data_checks: DataChecks


@dataclass(frozen=True)
class Timed:
    report: Report
    seconds: float
    bootstrap: int


@st.cache_resource(show_spinner=False, max_entries=8)
def _spec(path: str, sha: str, trust_key: str, _trust: Trust) -> Any:
    from auditor.load.spec_loader import load_spec, validate_spec

    spec = enforce(load_spec(path), _trust)  # before any file the spec names is opened
    validate_spec(spec)
    return spec


@st.cache_resource(
    show_spinner="Loading the data and the model, scoring and reducing once…", max_entries=4
)
def _prepared(key: str, _spec: Any) -> Any:
    from auditor.audit import prepare

    return prepare(_spec)


@st.cache_resource(show_spinner="Loading the policies…", max_entries=8)
def _policies(key: str, trust_key: str, _spec: Any, _trust: Trust) -> list[Any]:
    from auditor.judge.policy import load_policies

    base = _spec.source.parent if _spec.source is not None else None
    return list(
        load_policies(_spec.policies, base_dir=base, allowed_dirs=_trust.allowed_policy_dirs)
    )


@st.cache_resource(show_spinner="Explaining the model (SHAP on a seeded sample)…", max_entries=4)
def _explanations(key: str, _prepared: Any, _policies: Any = None) -> Explanations:
    from auditor.audit import explain_prepared

    return explain_prepared(_prepared, policies=_policies)


@st.cache_resource(show_spinner="Checking representation and missingness…", max_entries=4)
def _data_checks(key: str, _prepared: Any) -> DataChecks:
    from auditor.audit import check_data

    return check_data(_prepared)


def input_key(spec: Any, spec_sha: str) -> str:
    """The identity of an audit's inputs: hashes of the spec, data and model files."""
    parts = [spec_sha, digest(Path(spec.data))]
    if spec.model.path is not None:
        parts.append(digest(Path(spec.model.path)))
    return ":".join(parts)


def load_live(spec_path: Path, trust: Trust = LOCAL_TRUST) -> LiveAudit:
    """Validate the spec (within the server's trust), then load, score, reduce, explain, check."""
    spec_sha = digest(spec_path) if spec_path.is_file() else "missing"
    spec = _spec(str(spec_path), spec_sha, trust.key, trust)
    # The spec passed the trust check above; what the server changed in it (trusted types)
    # is part of the inputs, the session's own folder is not (sessions share the work).
    trusted = repr((spec.model.trusted_types, spec.model.sha256)).encode()
    key = f"{input_key(spec, spec_sha)}:{sha256_bytes(trusted)[:16]}"
    prepared = _prepared(key, spec)
    policies = _policies(key, trust.key, spec, trust)
    return LiveAudit(
        key=key,
        spec=spec,
        prepared=prepared,
        policies=policies,
        explanations=_explanations(key, prepared, policies),
        data_checks=_data_checks(key, prepared),
    )


@st.cache_resource(show_spinner=False, max_entries=64)
def _measured(
    key: str,
    threshold: float,
    references: tuple[tuple[str, str], ...],
    bootstrap: int,
    _live: LiveAudit,
) -> Timed:
    return _timed_report(_live, threshold, references, bootstrap)


def measured(
    live: LiveAudit, *, threshold: float, references: dict[str, str], bootstrap: int
) -> Timed:
    """The report at these settings: re-measured from the cached statistics, no reload."""
    refs = tuple(sorted(references.items()))
    return _measured(live.key, round(float(threshold), 6), refs, int(bootstrap), live)


@st.cache_resource(show_spinner=False, max_entries=8)
def _report_file(path: str, sha: str) -> Report:
    from auditor.audit import load_report

    return load_report(path)


def load_report_file(path: Path) -> Report:
    """A past audit's report.json, read-only (parsed once per content)."""
    sha = digest(path) if path.is_file() else "missing"
    return _report_file(str(path), sha)


# ------------------------------------------------------- full intervals in the background


@st.cache_resource(show_spinner=False)
def _executor() -> Any:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditor-full-intervals")


_JOBS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
"""Background jobs by (inputs, threshold, references, replicates), shared by every session."""
_JOBS_LOCK = threading.Lock()
MAX_JOBS = 64
LAST_JOB_KEY = "_full_job"
"""Session state: the job this session asked for last (a newer request cancels it if queued)."""


def _full_job(
    key: str,
    threshold: float,
    references: tuple[tuple[str, str], ...],
    bootstrap: int,
    live: LiveAudit,
) -> Any:
    """The background computation of the audit's own bootstrap at these settings.

    A slider moved five times queues no five jobs: the job this session asked for
    before is cancelled if it has not started (and started again if someone asks
    for it later).
    """
    wanted = (key, threshold, references, bootstrap)
    with _JOBS_LOCK:
        job = _JOBS.get(wanted)
        if job is None or job.cancelled():
            job = start_full(live, threshold, references, bootstrap)
            _JOBS[wanted] = job
            while len(_JOBS) > MAX_JOBS:
                _JOBS.popitem(last=False)
        _JOBS.move_to_end(wanted)
    previous = st.session_state.get(LAST_JOB_KEY)
    if previous is not None and previous is not job:
        previous.cancel()  # only a job still queued is cancelled
    st.session_state[LAST_JOB_KEY] = job
    return job


def start_full(
    live: LiveAudit, threshold: float, references: tuple[tuple[str, str], ...], bootstrap: int
) -> Any:
    """Submit the full-interval measurement; returns its Future."""
    return _executor().submit(_timed_report, live, threshold, references, bootstrap)


_COHORTS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
"""Discovery sections by (inputs, split seed, threshold when a searched metric reads it),
shared by every session: the search is the slow part of a re-measure and most of its
metrics do not depend on the threshold."""
_COHORTS_LOCK = threading.Lock()
MAX_COHORT_SEARCHES = 16


def cohorts_key(live: LiveAudit, threshold: float) -> tuple[Any, ...] | None:
    """What changes the discovery section: the inputs (spec, data and model hashes), the
    split seed, and the threshold only when a searched metric depends on it (None: the
    spec has no discover: block)."""
    from auditor.discover import THRESHOLD_METRICS

    block = live.spec.discover
    if block is None:
        return None
    seed = block.seed if block.seed is not None else live.spec.seed
    reads_threshold = any(m in THRESHOLD_METRICS for m in block.metrics)
    return (live.key, seed, round(float(threshold), 6) if reads_threshold else None)


def cohorts_found(live: LiveAudit, threshold: float) -> Any:
    """The discovery section at this threshold, searched once per :func:`cohorts_key`."""
    from concurrent.futures import Future

    key = cohorts_key(live, threshold)
    if key is None:
        return None
    with _COHORTS_LOCK:  # the page and the background full-interval job may ask at once
        pending = _COHORTS.get(key)
        owner = pending is None
        if pending is None:
            pending = Future()
            _COHORTS[key] = pending
            while len(_COHORTS) > MAX_COHORT_SEARCHES:
                _COHORTS.popitem(last=False)
        _COHORTS.move_to_end(key)
    if owner:
        from auditor.audit import discover_prepared

        try:
            pending.set_result(discover_prepared(live.prepared, threshold=threshold))
        except BaseException as exc:
            with _COHORTS_LOCK:
                _COHORTS.pop(key, None)
            pending.set_exception(exc)
    return pending.result()


def _timed_report(
    live: LiveAudit, threshold: float, references: tuple[tuple[str, str], ...], bootstrap: int
) -> Timed:
    from auditor.audit import build_report

    thresholds = [threshold, *[t for t in live.spec.thresholds if t != threshold]]
    start = time.perf_counter()
    report = build_report(
        live.prepared,
        policies=live.policies,
        thresholds=thresholds,
        reference_groups=dict(references) or None,
        bootstrap=bootstrap,
        explanations=live.explanations,
        data_checks=live.data_checks,
        cohorts_found=cohorts_found(live, threshold),
    )
    return Timed(report=report, seconds=time.perf_counter() - start, bootstrap=bootstrap)


def full_measurement(
    live: LiveAudit, *, threshold: float, references: dict[str, str], wait: bool = False
) -> Timed | None:
    """The audit of record at these settings: its full bootstrap, computed in the background.

    Returns None while it is still running (unless ``wait``); a failure in the
    background raises here, in the page's thread, like any library error.
    """
    refs = tuple(sorted(references.items()))
    n = full_bootstrap(live.spec.bootstrap)
    from concurrent.futures import CancelledError

    for _ in range(3):  # a queued job another session cancelled is started again
        job = _full_job(live.key, round(float(threshold), 6), refs, n, live)
        if not wait and not job.done():
            return None
        try:
            return job.result()  # type: ignore[no-any-return]
        except CancelledError:
            continue
    return None
