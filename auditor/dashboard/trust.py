"""What a served dashboard trusts about an audit spec: only what its server configuration says.

Applied to every spec after it is parsed and before any file it names is
opened, so a spec (typed, uploaded or generated from an upload) cannot make
the server read a file outside its folders, unpickle a file the operator did
not allow, trust skops types the operator did not list, or lower the
suppression floor. Local mode trusts the person at the keyboard, as the CLI does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor.errors import ModelError, SpecError
from auditor.server_config import ServerConfig, within

DATA_NOT_ALLOWED = (
    "{spec}: data: not a dataset in the server's data folders or this session's uploads"
)
MODEL_NOT_ALLOWED = (
    "{spec}: model.path: not a model in the server's data folders or this session's uploads"
)
PICKLE_NOT_ALLOWED = (
    "{spec}: model: pickle, joblib and cloudpickle files (and MLflow folders that unpickle) "
    "run code when loaded; this server loads only those whose SHA-256 its operator put on "
    "the allow-list (models.pickle_sha256 in the server configuration)"
)
FLOOR_LOWERED = (
    "{spec}: $.min_cell_size is {value}, below this server's privacy floor of {floor}; "
    "a spec may raise the floor, never lower it"
)


@dataclass(frozen=True)
class Trust:
    """The server's decisions that apply to one session's audits."""

    served: bool = False
    data_dirs: tuple[Path, ...] = ()
    """Where data and model files may come from (configured roots plus the session's uploads)."""
    policy_dirs: tuple[Path, ...] = ()
    pickle_sha256: frozenset[str] = frozenset()
    skops_trusted_types: tuple[str, ...] = ()
    min_cell_size: int = 0

    @property
    def key(self) -> str:
        """A stable text identity for caches."""
        return repr(self)

    @property
    def allowed_policy_dirs(self) -> tuple[Path, ...] | None:
        """Folders policy files may come from (None: anywhere, as the CLI)."""
        return self.policy_dirs if self.served else None


LOCAL_TRUST = Trust()


def trust_for(config: ServerConfig, upload_folder: Path | None = None) -> Trust:
    """The trust of one session: the configuration, plus its own upload folder for inputs."""
    if not config.served:
        return LOCAL_TRUST
    own = (upload_folder,) if upload_folder is not None else ()
    shipped: tuple[Path, ...] = ()
    if config.bundled_example:
        from auditor.dashboard.inputs import example_spec

        shipped = (example_spec().parent,)  # shipped with the tool, like the policy packs
    return Trust(
        served=True,
        data_dirs=(*config.data_roots, *own, *shipped),
        policy_dirs=(*config.policy_dirs, *own),
        pickle_sha256=config.pickle_sha256,
        skops_trusted_types=config.skops_trusted_types,
        min_cell_size=config.min_cell_size,
    )


def _unpickles(path: Path) -> bool:
    """True for files whose loading can run code: pickle-family files and MLflow folders."""
    from auditor.load.scorers import PICKLE_SUFFIXES

    if path.is_dir():
        return True
    return path.suffix.lower() in (*PICKLE_SUFFIXES, ".cloudpickle", ".cpkl")


def enforce(spec: Any, trust: Trust) -> Any:
    """The spec as the server will run it, or SpecError/ModelError naming what it refused.

    Nothing here opens a file the spec names except to resolve where it lies.
    """
    if not trust.served:
        return spec
    name = spec.source.name if spec.source is not None else "spec"
    if spec.min_cell_size < trust.min_cell_size:
        raise SpecError(
            FLOOR_LOWERED.format(spec=name, value=spec.min_cell_size, floor=trust.min_cell_size)
        )
    if spec.data is None or not within(Path(spec.data), trust.data_dirs):
        raise SpecError(DATA_NOT_ALLOWED.format(spec=name))
    model = spec.model
    if model.path is not None:
        path = Path(model.path)
        if not within(path, trust.data_dirs):
            raise ModelError(MODEL_NOT_ALLOWED.format(spec=name))
        if _unpickles(path) and (model.sha256 or "").lower() not in trust.pickle_sha256:
            raise ModelError(PICKLE_NOT_ALLOWED.format(spec=name))
        model = replace(model, trusted_types=trust.skops_trusted_types)
    return replace(spec, model=model)
