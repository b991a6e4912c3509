"""Where the audit on screen comes from: the bundled example, a spec, uploads, or a report.json.

Uploaded files are written to a private temporary folder named by their
SHA-256, then go through exactly the loaders the CLI uses (``load_spec``,
``prepare``, ``load_report``), so a bad file shows the CLI's own message.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import streamlit as st
import yaml

from auditor.dashboard.state import guarded
from auditor.hashing import sha256_bytes

ENV_SPEC = "AUDITOR_SPEC"
UPLOAD_ROOT_NAME = "auditor-dashboard"

SOURCE_EXAMPLE = "Bundled example"
SOURCE_GIVEN = "Spec given at start"
SOURCE_PATH = "Spec file on this machine"
SOURCE_UPLOAD = "Upload data and model"
SOURCE_REPORT = "Open a past report.json (read-only)"

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
    args = [a for a in argv[1:] if a and not a.startswith("-")]
    if args:
        return Path(args[0]).expanduser()
    value = environ.get(ENV_SPEC, "").strip()
    return Path(value).expanduser() if value else None


def example_spec() -> Path:
    try:
        from auditor.examples import demo_spec_path
    except ImportError:
        import auditor

        return Path(auditor.__file__).parent / "example_data" / "spec.yaml"
    return demo_spec_path()


def max_upload_mb() -> int:
    """The upload limit in force (``server.maxUploadSize`` in .streamlit/config.toml)."""
    value = st.get_option("server.maxUploadSize")
    return int(value) if value else 200


def upload_dir() -> Path:
    root = Path(tempfile.gettempdir()) / UPLOAD_ROOT_NAME
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def store_upload(name: str, content: bytes) -> Path:
    """Write uploaded bytes under a folder named by their hash, keeping the file's own name.

    The name is kept so the loaders' messages (which name the file and its
    type) read as they do for the CLI; the folder keeps two uploads apart.
    """
    safe = Path(name).name or "upload"
    folder = upload_dir() / sha256_bytes(content)[:24]
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / safe
    if not path.exists() or path.read_bytes() != content:
        path.write_bytes(content)
    return path


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
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def choose_source() -> Source | None:
    """The sidebar's input picker; None while an upload is incomplete (the form says why)."""
    given = spec_from_start(sys.argv, os.environ)
    options = ([SOURCE_GIVEN] if given else []) + [
        SOURCE_EXAMPLE,
        SOURCE_PATH,
        SOURCE_UPLOAD,
        SOURCE_REPORT,
    ]
    choice = st.sidebar.radio("Audit input", options, key="source")
    limit = max_upload_mb()
    if choice == SOURCE_GIVEN and given is not None:
        st.sidebar.caption(f"Spec: `{given}`")
        return Source("spec", given, f"spec {given.name}")
    if choice == SOURCE_EXAMPLE:
        st.sidebar.caption(
            "A hospital-admission risk model audited on a real cohort of Medicare "
            "beneficiaries (NMES 1988), shipped with the tool."
        )
        return Source("spec", example_spec(), "bundled example")
    if choice == SOURCE_PATH:
        text = st.sidebar.text_input("Path of an audit spec (YAML)", key="spec_path").strip()
        if not text:
            st.info("Type the path of an audit spec (the same file `auditor audit` reads).")
            return None
        return Source("spec", Path(text).expanduser(), f"spec {Path(text).name}")
    if choice == SOURCE_REPORT:
        upload = st.sidebar.file_uploader(
            f"report.json of a past audit (up to {limit} MB)", key="report_upload"
        )
        if upload is None:
            st.info(
                "Upload the report.json an earlier audit wrote (for example a CI artefact). "
                "It is shown read-only: thresholds and reference groups are those it was run with; "
                "you can still re-judge it against another policy."
            )
            return None
        path = store_upload(upload.name, upload.getvalue())
        return Source("report", path, f"report {upload.name} (read-only)")
    return _upload_form(limit)


def _upload_form(limit: int) -> Source | None:
    """Dataset, model and policy uploads, plus the few answers a spec needs."""
    st.sidebar.caption(f"Each upload is limited to {limit} MB.")
    data_file = st.sidebar.file_uploader(
        "Dataset (CSV or Parquet)", key="data_upload", help="One row per patient."
    )
    model_file = st.sidebar.file_uploader(
        "Model (.skops, .onnx, or .pkl/.joblib with its SHA-256 pinned)",
        key="model_upload",
        help="Leave empty when the dataset holds a column of the model's scores.",
    )
    policy_file = st.sidebar.file_uploader(
        "Policy (YAML, optional; default clinical-default)", key="policy_upload"
    )
    if data_file is None:
        st.markdown(UPLOAD_STEPS)
        st.info(UPLOAD_NEEDS_DATA + f" Uploads are limited to {limit} MB per file.")
        return None
    data_path = store_upload(data_file.name, data_file.getvalue())
    columns = guarded(_read_columns, data_path)
    if columns is None:
        return None
    guess = guarded(_guess_columns, data_path)
    if guess is None:
        return None
    with st.sidebar.expander("What to audit", expanded=True):
        for note in guess.notes:
            st.caption(f"Guessed: {note}.")
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
        sha256 = ""
        trusted: list[str] = []
        if model_file is not None:
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
            trusted = [t.strip() for t in trusted_text.split(",") if t.strip()]
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
    model_path = store_upload(model_file.name, model_file.getvalue()) if model_file else None
    policy: Path | str = (
        store_upload(policy_file.name, policy_file.getvalue())
        if policy_file
        else "clinical-default"
    )
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
    )
    spec_path = store_upload("uploaded-spec.yaml", text.encode("utf-8"))
    return Source("spec", spec_path, f"uploaded {data_file.name}")


def _read_columns(path: Path) -> list[str]:
    """The upload's columns, read as ``auditor audit`` reads data (same errors)."""
    from auditor.data import read_columns

    return read_columns(path)


def _guess_columns(path: Path) -> Any:
    """Guess label, score and sensitive columns as ``auditor init`` does (said, not trusted)."""
    from auditor.init_spec import init_spec

    out = path.with_name(path.name + ".init.yaml")
    if out.exists():
        out.unlink()
    _, guess = init_spec(path, out=out)
    return guess
