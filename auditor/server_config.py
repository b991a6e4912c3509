"""The dashboard server's own configuration: its mode, who may do what, and what it trusts.

Every trust decision of a served dashboard comes from this file, which the
operator names in the server's environment (``$AUDITOR_SERVER_CONFIG``) or on
its command line (``streamlit run streamlit_app.py -- --server-config FILE``),
never from the page, the viewer, or the file being audited. Without a file the
dashboard runs in *local* mode: one person on their own machine, bound to
127.0.0.1, as before. The keys are documented one by one in docs/deploy.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from auditor.errors import AuditInputError
from auditor.load.safe_yaml import load_yaml
from auditor.load.spec import DEFAULT_MIN_CELL_SIZE

ENV_SERVER_CONFIG = "AUDITOR_SERVER_CONFIG"
ARG_SERVER_CONFIG = "--server-config"

Mode = Literal["local", "served"]
Role = Literal["viewer", "auditor", "approver"]
ROLES: tuple[Role, ...] = ("viewer", "auditor", "approver")
"""viewer reads audits; auditor also runs audits, uploads and edits policies; approver signs off."""

CONFIG_NOT_FOUND = "{file}: server configuration not found (named by ${env} or {arg})"
CONFIG_UNREADABLE = "{file}: cannot read the server configuration: {reason}"
CONFIG_YAML = "{file}: line {line}: not valid YAML: {problem}"
CONFIG_NOT_MAPPING = "{file}: expected a mapping of settings (mode, roles, roots, ...)"
CONFIG_UNKNOWN_KEY = "{file}: {where}: unknown key {key!r}; expected one of: {allowed}"
CONFIG_BAD_VALUE = "{file}: {where}: {problem}"
CONFIG_FOLDER_MISSING = "{file}: {where}: folder {folder} does not exist"

TOP_KEYS = (
    "mode",
    "roles",
    "default_role",
    "roots",
    "policy_folder",
    "models",
    "privacy",
    "registry",
    "uploads",
    "bundled_example",
)
UPLOAD_KEYS = ("folder", "max_file_mb", "max_session_mb", "max_files", "max_rows")
MODEL_KEYS = ("pickle_sha256", "skops_trusted_types")
ROOT_KEYS = ("specs", "data")
IDENTITY_KEYS = ("issuer", "subject", "email")


@dataclass(frozen=True)
class Identity:
    """One entry of a role list: an OIDC subject (optionally at one issuer), or a verified email."""

    issuer: str | None = None
    subject: str | None = None
    email: str | None = None

    def matches(self, claims: Mapping[str, Any]) -> bool:
        """True when the logged-in user's claims name this identity.

        An email entry matches only an email the provider marks verified
        (``email_verified: true``), so a user cannot claim someone else's address.
        """
        if self.subject is not None:
            if str(claims.get("sub", "")) != self.subject:
                return False
            return self.issuer is None or str(claims.get("iss", "")) == self.issuer
        if self.email is not None:
            verified = claims.get("email_verified") in (True, "true")
            return verified and str(claims.get("email", "")).lower() == self.email.lower()
        return False


@dataclass(frozen=True)
class UploadLimits:
    folder: Path | None = None
    """Where per-session folders are made (default: the system's temporary folder)."""
    max_file_mb: float = 200
    """Largest single upload."""
    max_session_mb: float = 500
    """All uploads of one session together."""
    max_files: int = 20
    """Uploads one session may keep at once."""
    max_rows: int = 2_000_000
    """Rows of an uploaded dataset."""


@dataclass(frozen=True)
class ServerConfig:
    """What the operator decided; the defaults are local mode's."""

    mode: Mode = "local"
    source: Path | None = None
    roles: Mapping[Role, tuple[Identity, ...]] = field(default_factory=dict)
    default_role: Role | None = None
    """Role of a logged-in identity no list names (None: refused)."""
    spec_roots: tuple[Path, ...] = ()
    data_roots: tuple[Path, ...] = ()
    policy_folder: Path | None = None
    pickle_sha256: frozenset[str] = frozenset()
    """Pickle/joblib/cloudpickle files (and MLflow folders) that may be loaded, by SHA-256."""
    skops_trusted_types: tuple[str, ...] = ()
    """skops types trusted beyond skops' defaults, for every model the server loads."""
    min_cell_size: int = DEFAULT_MIN_CELL_SIZE
    """The suppression floor; a spec may raise it, never lower it."""
    registry: str | None = None
    uploads: UploadLimits = field(default_factory=UploadLimits)
    bundled_example: bool = True

    @property
    def served(self) -> bool:
        return self.mode == "served"

    @property
    def policy_dirs(self) -> tuple[Path, ...]:
        return (self.policy_folder,) if self.policy_folder is not None else ()

    def roles_of(self, claims: Mapping[str, Any]) -> frozenset[Role]:
        """Every role the configuration gives the logged-in user (empty: no access)."""
        found = {
            role
            for role, identities in self.roles.items()
            if any(i.matches(claims) for i in identities)
        }
        if not found and self.default_role is not None:
            found.add(self.default_role)
        return frozenset(found)


LOCAL = ServerConfig()


def config_path(argv: Sequence[str], environ: Mapping[str, str]) -> Path | None:
    """The configuration file named at start (``--server-config FILE`` wins over the env)."""
    args = list(argv[1:])
    for i, arg in enumerate(args):
        if arg == ARG_SERVER_CONFIG and i + 1 < len(args):
            return Path(args[i + 1]).expanduser()
        if arg.startswith(ARG_SERVER_CONFIG + "="):
            return Path(arg.split("=", 1)[1]).expanduser()
    value = environ.get(ENV_SERVER_CONFIG, "").strip()
    return Path(value).expanduser() if value else None


def _bad(file: str, where: str, problem: str) -> AuditInputError:
    return AuditInputError(CONFIG_BAD_VALUE.format(file=file, where=where, problem=problem))


def _keys(file: str, where: str, value: Any, allowed: Sequence[str]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(file, where, "expected a mapping")
    for key in value:
        if key not in allowed:
            raise AuditInputError(
                CONFIG_UNKNOWN_KEY.format(
                    file=file, where=where, key=key, allowed=", ".join(allowed)
                )
            )
    return value


def _strings(file: str, where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(file, where, "expected a list of texts")
    return tuple(value)


def _folders(file: str, where: str, value: Any, base: Path) -> tuple[Path, ...]:
    folders = []
    for text in _strings(file, where, value):
        folder = (base / Path(text).expanduser()).resolve()
        if not folder.is_dir():
            raise AuditInputError(CONFIG_FOLDER_MISSING.format(file=file, where=where, folder=text))
        folders.append(folder)
    return tuple(folders)


def _number(file: str, where: str, value: Any, default: float, *, whole: bool = False) -> Any:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _bad(file, where, "expected a positive number")
    if whole and not isinstance(value, int):
        raise _bad(file, where, "expected a whole number")
    return value


def _identities(file: str, where: str, value: Any) -> tuple[Identity, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad(file, where, "expected a list of identities ({subject: ...} or {email: ...})")
    out = []
    for i, item in enumerate(value):
        here = f"{where}[{i}]"
        entry = _keys(file, here, item, IDENTITY_KEYS)
        if not entry or not all(isinstance(v, str) and v for v in entry.values()):
            raise _bad(file, here, "expected {subject: ..., issuer: ...} or {email: ...}")
        if ("subject" in entry) == ("email" in entry):
            raise _bad(file, here, "give exactly one of subject or email")
        out.append(Identity(entry.get("issuer"), entry.get("subject"), entry.get("email")))
    return tuple(out)


def parse_config(raw: Any, *, file: str, base: Path) -> ServerConfig:
    """Build the configuration from parsed YAML; relative folders resolve against ``base``."""
    doc = _keys(file, "$", raw, TOP_KEYS) if raw is not None else {}
    if raw is not None and not isinstance(raw, Mapping):
        raise AuditInputError(CONFIG_NOT_MAPPING.format(file=file))
    mode = doc.get("mode", "served")
    if mode not in ("local", "served"):
        raise _bad(file, "mode", f"expected local or served, got {mode!r}")
    roles_raw = _keys(file, "roles", doc.get("roles"), ROLES)
    roles = {role: _identities(file, f"roles.{role}", roles_raw.get(role)) for role in ROLES}
    default_role = doc.get("default_role")
    if default_role not in (None, "none", *ROLES):
        raise _bad(file, "default_role", f"expected none or one of {', '.join(ROLES)}")
    roots = _keys(file, "roots", doc.get("roots"), ROOT_KEYS)
    models = _keys(file, "models", doc.get("models"), MODEL_KEYS)
    hashes = _strings(file, "models.pickle_sha256", models.get("pickle_sha256"))
    for h in hashes:
        if len(h) != 64 or any(c not in "0123456789abcdefABCDEF" for c in h):
            raise _bad(file, "models.pickle_sha256", f"{h!r} is not a SHA-256 (64 hex digits)")
    privacy = _keys(file, "privacy", doc.get("privacy"), ("min_cell_size",))
    floor = _number(file, "privacy.min_cell_size", privacy.get("min_cell_size"), 0, whole=True)
    up = _keys(file, "uploads", doc.get("uploads"), UPLOAD_KEYS)
    default_limits = UploadLimits()
    folder = up.get("folder")
    if folder is not None and not isinstance(folder, str):
        raise _bad(file, "uploads.folder", "expected a folder path")
    upload_folder = _folders(file, "uploads.folder", [folder], base)[0] if folder else None
    policy_folder = doc.get("policy_folder")
    if policy_folder is not None and not isinstance(policy_folder, str):
        raise _bad(file, "policy_folder", "expected a folder path")
    registry = doc.get("registry")
    if registry is not None and not isinstance(registry, str):
        raise _bad(file, "registry", "expected a database URL or SQLite file path")
    example = doc.get("bundled_example", True)
    if not isinstance(example, bool):
        raise _bad(file, "bundled_example", "expected true or false")
    return ServerConfig(
        mode=mode,
        source=None,
        roles=roles,
        default_role=None if default_role in (None, "none") else default_role,
        spec_roots=_folders(file, "roots.specs", roots.get("specs"), base),
        data_roots=_folders(file, "roots.data", roots.get("data"), base),
        policy_folder=(
            _folders(file, "policy_folder", [policy_folder], base)[0] if policy_folder else None
        ),
        pickle_sha256=frozenset(h.lower() for h in hashes),
        skops_trusted_types=_strings(
            file, "models.skops_trusted_types", models.get("skops_trusted_types")
        ),
        min_cell_size=max(int(floor), DEFAULT_MIN_CELL_SIZE) if floor else DEFAULT_MIN_CELL_SIZE,
        registry=registry,
        uploads=UploadLimits(
            folder=upload_folder,
            max_file_mb=_number(
                file, "uploads.max_file_mb", up.get("max_file_mb"), default_limits.max_file_mb
            ),
            max_session_mb=_number(
                file,
                "uploads.max_session_mb",
                up.get("max_session_mb"),
                default_limits.max_session_mb,
            ),
            max_files=_number(
                file, "uploads.max_files", up.get("max_files"), default_limits.max_files, whole=True
            ),
            max_rows=_number(
                file, "uploads.max_rows", up.get("max_rows"), default_limits.max_rows, whole=True
            ),
        ),
        bundled_example=example,
    )


def load_config(path: Path) -> ServerConfig:
    """Read the operator's configuration file (YAML, with the same limits as any YAML)."""
    import yaml

    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise AuditInputError(
            CONFIG_NOT_FOUND.format(file=file, env=ENV_SERVER_CONFIG, arg=ARG_SERVER_CONFIG)
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AuditInputError(CONFIG_UNREADABLE.format(file=file, reason=reason)) from exc
    try:
        raw = load_yaml(text, source=file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise AuditInputError(CONFIG_YAML.format(file=file, line=line, problem=problem)) from exc
    config = parse_config(raw, file=file, base=path.resolve().parent)
    from dataclasses import replace

    return replace(config, source=path.resolve())


def server_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> ServerConfig:
    """The configuration in force: the named file, or local mode when none is named."""
    import sys

    path = config_path(
        sys.argv if argv is None else argv, os.environ if environ is None else environ
    )
    return LOCAL if path is None else load_config(path)


def inside(
    ref: str | Path, folders: Sequence[Path], *, allow_absolute: bool = False
) -> Path | None:
    """The existing file ``ref`` names relative to one of ``folders``, links resolved; else None.

    Refuses ``~``, ``..`` and (unless ``allow_absolute``, for paths a spec
    already resolved) absolute paths outright, and anything whose real path
    leaves the folder. Callers give one message for every None, so the answer
    never tells whether some path exists on the server.
    """
    text = str(ref)
    rel = Path(text)
    if not text.strip() or ".." in rel.parts or text.startswith("~"):
        return None
    if rel.is_absolute():
        if not allow_absolute:
            return None
        try:
            found = rel.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        ok = found.is_file() and any(found.is_relative_to(f.resolve()) for f in folders)
        return found if ok else None
    for folder in folders:
        root = folder.resolve()
        try:
            found = (root / rel).resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if found.is_relative_to(root) and found.is_file():
            return found
    return None


def within(path: Path, folders: Sequence[Path]) -> bool:
    """True when ``path`` (links resolved) exists inside one of ``folders``."""
    try:
        real = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return any(real.is_relative_to(f.resolve()) for f in folders)
