"""Where the audit on screen comes from: the bundled example, a spec, uploads, or a report.json.

Uploaded files are kept in the session's private folder (:mod:`uploads`),
then go through exactly the loaders the CLI uses (``load_spec``, ``prepare``,
``load_report``), so a bad file shows the CLI's own message. In served mode
the choices are the server's: specs only from its spec folders (named
relative to them), uploads only for auditors, and trust (pickle hashes, skops
types) only from the server configuration, never typed on the page.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import streamlit as st
import yaml

from auditor.dashboard.access import Viewer
from auditor.dashboard.display import plain
from auditor.dashboard.state import guarded, message
from auditor.dashboard.uploads import SessionUploads
from auditor.errors import AuditorError
from auditor.load.hashing import sha256_bytes
from auditor.server_config import ServerConfig, inside

ENV_SPEC = "AUDITOR_SPEC"

SOURCE_EXAMPLE = "Bundled example"
SOURCE_GIVEN = "Spec given at start"
SOURCE_PATH = "Spec file on this machine"
SOURCE_UPLOAD = "Upload data and model"
SOURCE_REPORT = "Open a past report.json (read-only)"
SOURCE_SERVER = "Audit spec on this server"
SPEC_NOT_ALLOWED = (
    "{name}: no audit spec of that name in the server's spec folders (name it relative to "
    "the folder, without '..')"
)
SERVER_SPEC_HELP = (
    "Type the spec's path inside the server's spec folder, e.g. cardiology/spec.yaml."
)

UPLOAD_NEEDS_DATA = "Upload the dataset (CSV or Parquet) to start."
UPLOAD_NEEDS_MODEL = "Choose the score column or upload a model file."
UPLOAD_NEEDS_LABEL = "Choose the label (outcome) column."
UPLOAD_NEEDS_SENSITIVE = "Choose at least one sensitive attribute."
NO_SCORE_COLUMN = "(none: use the uploaded model)"
UPLOAD_STEPS = (
    "**Audit your own model** in three steps, in the sidebar: upload the dataset (one row per "
    "patient), then the model file unless the data hold a column of its scores, then review "
    "the guessed label and sensitive attributes under *What to audit*. The audit runs as soon "
    "as everything it needs is there, through the same checks as `auditor audit`."
)


@dataclass(frozen=True)
class Source:
    """What the dashboard shows: a spec to audit live, or a past report to read."""

    kind: Literal["spec", "report"]
    path: Path
    label: str

    @property
    def read_only(self) -> bool:
        return self.kind == "report"


def spec_from_start(argv: Sequence[str], environ: Mapping[str, str]) -> Path | None:
    """A spec path given at start: ``streamlit run streamlit_app.py -- spec.yaml`` or $AUDITOR_SPEC.

    Streamlit passes what follows ``--`` as ``sys.argv[1:]``; the argument wins
    over the environment variable.
    """
    from auditor.server_config import ARG_SERVER_CONFIG

    rest = list(argv[1:])
    args = [
        a
        for i, a in enumerate(rest)
        if a and not a.startswith("-") and (i == 0 or rest[i - 1] != ARG_SERVER_CONFIG)
    ]
    if args:
        return Path(args[0]).expanduser()
    value = environ.get(ENV_SPEC, "").strip()
    return Path(value).expanduser() if value else None


def example_spec() -> Path:
    try:
        from auditor.load.examples import demo_spec_path
    except ImportError:
        import auditor

        return Path(auditor.__file__).parent / "example_data" / "spec.yaml"
    return demo_spec_path()


def max_upload_mb() -> int:
    """The upload limit in force (``server.maxUploadSize`` in .streamlit/config.toml)."""
    value = st.get_option("server.maxUploadSize")
    return int(value) if value else 200


def _typed(text: str) -> Any:
    """The label's positive value as the data most likely holds it (1, 1.0, true, 'yes')."""
    stripped = text.strip()
    for cast in (int, float):
        try:
            return cast(stripped)
        except ValueError:
            continue
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    return stripped


def upload_spec_text(
    *,
    name: str,
    data: Path,
    label_column: str,
    positive: str,
    sensitive: Sequence[str],
    score_column: str | None,
    model: Path | None,
    threshold: float,
    policy: Path | str,
    sha256: str = "",
    trusted_types: Sequence[str] = (),
    min_cell_size: int | None = None,
) -> str:
    """The audit spec (YAML) the upload form describes; loaded by ``load_spec`` like any other.

    Trust (a pinned hash, trusted skops types) comes from what the user typed, never
    from the uploaded file.
    """
    spec: dict[str, Any] = {
        "name": name,
        "data": str(data),
        "label": {"column": label_column, "positive": _typed(positive)},
        "model": {"score_column": score_column} if score_column else {"path": str(model)},
        "sensitive": list(sensitive),
        "threshold": threshold,
        "policy": str(policy),
    }
    if not score_column and sha256.strip():
        spec["model"]["sha256"] = sha256.strip().lower()
    if not score_column and trusted_types:
        spec["model"]["trusted_types"] = list(trusted_types)
    if len(sensitive) >= 2:
        spec["intersections"] = [list(sensitive[:2])]
    if min_cell_size is not None:
        spec["min_cell_size"] = min_cell_size
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


@dataclass(frozen=True)
class Session:
    """What the input picker needs to know about this session and its server."""

    config: ServerConfig
    viewer: Viewer
    uploads: SessionUploads

    @property
    def served(self) -> bool:
        return self.config.served


def _limit_mb(session: Session) -> float:
    """The per-file limit in force: Streamlit's, and the server's quota when served."""
    limit = float(max_upload_mb())
    return min(limit, session.config.uploads.max_file_mb) if session.served else limit


def _keep(session: Session, key: str, upload: Any, *, rows: bool = False) -> Path | None:
    """Keep an upload in the session folder, or show why not (and keep nothing)."""
    try:
        return session.uploads.store(key, upload.name, upload.getvalue(), rows=rows)
    except AuditorError as exc:
        session.uploads.discard(key)
        st.error(message(exc))
        return None


def _options(session: Session, given: Path | None) -> list[str]:
    if not session.served:
        return ([SOURCE_GIVEN] if given else []) + [
            SOURCE_EXAMPLE,
            SOURCE_PATH,
            SOURCE_UPLOAD,
            SOURCE_REPORT,
        ]
    options = [SOURCE_GIVEN] if given else []
    if session.config.bundled_example:
        options.append(SOURCE_EXAMPLE)
    if session.config.spec_roots:
        options.append(SOURCE_SERVER)
    if session.viewer.can("auditor"):
        options += [SOURCE_UPLOAD, SOURCE_REPORT]
    return options


def _server_spec(session: Session) -> Source | None:
    """A spec named relative to the server's spec folders: never an absolute path or '..'."""
    text = st.sidebar.text_input(
        "Spec path on this server", key="server_spec", help=SERVER_SPEC_HELP
    ).strip()
    if not text:
        st.info(SERVER_SPEC_HELP)
        return None
    found = inside(text, session.config.spec_roots)
    if found is None:
        st.error(SPEC_NOT_ALLOWED.format(name=text))
        return None
    return Source("spec", found, f"spec {found.name}")


def choose_source(session: Session) -> Source | None:
    """The sidebar's input picker; None while an upload is incomplete (the form says why)."""
    given = spec_from_start(sys.argv, os.environ)
    options = _options(session, given)
    if not options:
        st.info("This server offers no audit to your role yet.")
        return None
    choice = st.sidebar.radio("Audit input", options, key="source")
    limit = _limit_mb(session)
    if choice == SOURCE_GIVEN and given is not None:
        st.sidebar.caption(f"Spec: `{given.name if session.served else given}`")
        return Source("spec", given, f"spec {given.name}")
    if choice == SOURCE_EXAMPLE:
        st.sidebar.caption(
            "A hospital-admission risk model audited on a real cohort of Medicare "
            "beneficiaries (NMES 1988), shipped with the tool."
        )
        return Source("spec", example_spec(), "bundled example")
    if choice == SOURCE_SERVER:
        return _server_spec(session)
    if choice == SOURCE_PATH and not session.served:
        text = st.sidebar.text_input("Path of an audit spec (YAML)", key="spec_path").strip()
        if not text:
            st.info("Type the path of an audit spec (the same file `auditor audit` reads).")
            return None
        return Source("spec", Path(text).expanduser(), f"spec {Path(text).name}")
    if choice == SOURCE_REPORT:
        upload = st.sidebar.file_uploader(
            f"report.json of a past audit (up to {limit:g} MB)", key="report_upload"
        )
        if upload is None:
            session.uploads.discard("report_upload")
            st.info(
                "Upload the report.json an earlier audit wrote (for example a CI artefact). "
                "It is shown read-only: thresholds and reference groups are those it was run with; "
                "you can still re-judge it against another policy."
            )
            return None
        path = _keep(session, "report_upload", upload)
        if path is None:
            return None
        return Source("report", path, f"report {upload.name} (read-only)")
    if choice == SOURCE_UPLOAD:
        return _upload_form(session, limit)
    return None


def _trust_fields(session: Session, model_file: Any) -> tuple[str, list[str]]:
    """Pinned SHA-256 and trusted skops types: typed in local mode, the server's when served."""
    if model_file is None:
        return "", []
    if session.served:
        digest = sha256_bytes(model_file.getvalue())
        allowed = digest if digest in session.config.pickle_sha256 else ""
        st.caption(
            "Trust comes from this server's configuration: pickle-family files load only when "
            "their SHA-256 is on its allow-list; skops files may use only the types it lists."
        )
        return allowed, list(session.config.skops_trusted_types)
    sha256 = st.text_input(
        "Pinned SHA-256 of the model file",
        key="up_sha256",
        help="Required for .pkl/.joblib (checked before anything is unpickled); "
        "verified for any format when given.",
    )
    trusted_text = st.text_input(
        "skops types you trust beyond skops' defaults (comma-separated)",
        key="up_trusted",
        help="Only for .skops files whose types you have reviewed.",
    )
    return sha256, [t.strip() for t in trusted_text.split(",") if t.strip()]


def _upload_form(session: Session, limit: float) -> Source | None:
    """Dataset, model and policy uploads, plus the few answers a spec needs."""
    quota = session.config.uploads
    caption = f"Each upload is limited to {limit:g} MB."
    if session.served:
        caption += (
            f" This session may keep {quota.max_files} files, {quota.max_session_mb:g} MB in "
            f"all, and datasets of up to {quota.max_rows:,} rows; they are deleted when the "
            "session ends."
        )
    st.sidebar.caption(caption)
    data_file = st.sidebar.file_uploader(
        "Dataset (CSV or Parquet)", key="data_upload", help="One row per patient."
    )
    model_label = (
        "Model (.skops or .onnx; pickle-family files only when the server allows their hash)"
        if session.served
        else "Model (.skops, .onnx, or .pkl/.joblib with its SHA-256 pinned)"
    )
    model_file = st.sidebar.file_uploader(
        model_label,
        key="model_upload",
        help="Leave empty when the dataset holds a column of the model's scores.",
    )
    policy_file = st.sidebar.file_uploader(
        "Policy (YAML, optional; default clinical-default)", key="policy_upload"
    )
    for key, file in (("data_upload", data_file), ("model_upload", model_file)):
        if file is None:
            session.uploads.discard(key)
    if policy_file is None:
        session.uploads.discard("policy_upload")
    if data_file is None:
        st.markdown(UPLOAD_STEPS)
        st.info(UPLOAD_NEEDS_DATA + f" Uploads are limited to {limit:g} MB per file.")
        return None
    data_path = _keep(session, "data_upload", data_file, rows=True)
    if data_path is None:
        return None
    columns = guarded(_read_columns, data_path)
    guess = guarded(_guess_columns, data_path) if columns is not None else None
    if columns is None or guess is None:
        session.uploads.discard("data_upload")  # a refused upload is not kept
        return None
    with st.sidebar.expander("What to audit", expanded=True):
        for note in guess.notes:
            st.caption(plain(f"Guessed: {note}."))
        name = st.text_input("Audit name", value=f"{data_path.stem} model audit", key="up_name")
        label_column = st.selectbox(
            "Label (outcome) column",
            columns,
            index=columns.index(guess.label) if guess.label in columns else None,
            key="up_label",
        )
        positive = st.text_input(
            "Value that means the event happened", value=str(guess.positive), key="up_positive"
        )
        score_options = [NO_SCORE_COLUMN, *columns]
        score_index = score_options.index(guess.score) if guess.score in columns else 0
        score_column = st.selectbox(
            "Score column", score_options, index=score_index, key="up_score"
        )
        sensitive = st.multiselect(
            "Sensitive attributes", columns, default=guess.sensitive, key="up_sensitive"
        )
        threshold = st.number_input(
            "Decision threshold", 0.01, 0.99, value=0.5, step=0.01, key="up_threshold"
        )
        sha256, trusted = _trust_fields(session, model_file)
    problems = []
    if label_column is None:
        problems.append(UPLOAD_NEEDS_LABEL)
    if score_column == NO_SCORE_COLUMN and model_file is None:
        problems.append(UPLOAD_NEEDS_MODEL)
    if not sensitive:
        problems.append(UPLOAD_NEEDS_SENSITIVE)
    if problems:
        st.markdown(UPLOAD_STEPS)
        for p in problems:
            st.info(p)
        return None
    model_path = _keep(session, "model_upload", model_file) if model_file else None
    if model_file is not None and model_path is None:
        return None
    policy: Path | str = "clinical-default"
    if policy_file is not None:
        kept = _keep(session, "policy_upload", policy_file)
        if kept is None:
            return None
        policy = kept
    text = upload_spec_text(
        name=name or f"{data_path.stem} model audit",
        data=data_path,
        label_column=str(label_column),
        positive=positive,
        sensitive=sensitive,
        score_column=None if score_column == NO_SCORE_COLUMN else score_column,
        model=model_path,
        threshold=float(threshold),
        policy=policy,
        sha256=sha256,
        trusted_types=trusted,
        min_cell_size=session.config.min_cell_size if session.served else None,
    )
    spec_path = session.uploads.store("uploaded_spec", "uploaded-spec.yaml", text.encode("utf-8"))
    return Source("spec", spec_path, f"uploaded {data_file.name}")


def _read_columns(path: Path) -> list[str]:
    """The upload's columns, read as ``auditor audit`` reads data (same errors)."""
    from auditor.load.data import read_columns

    return read_columns(path)


def _guess_columns(path: Path) -> Any:
    """Guess label, score and sensitive columns as ``auditor init`` does (said, not trusted)."""
    from auditor.init_spec import init_spec

    out = path.with_name(path.name + ".init.yaml")
    out.unlink(missing_ok=True)
    try:
        _, guess = init_spec(path, out=out)
    finally:
        out.unlink(missing_ok=True)
    return guess
