"""The server configuration: its mode, roles and trust, read only from the server's side."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import AuditInputError
from auditor.load.spec import DEFAULT_MIN_CELL_SIZE
from auditor.server_config import (
    CONFIG_FOLDER_MISSING,
    CONFIG_NOT_FOUND,
    CONFIG_UNKNOWN_KEY,
    LOCAL,
    TOP_KEYS,
    Identity,
    config_path,
    inside,
    load_config,
    server_config,
)


def test_no_configuration_means_local_mode() -> None:
    assert server_config(["streamlit_app.py"], {}) == LOCAL
    assert not LOCAL.served


def test_the_command_line_wins_over_the_environment(tmp_path: Path) -> None:
    env = {"AUDITOR_SERVER_CONFIG": "/from/env.yaml"}
    assert config_path(["app", "--server-config", "cli.yaml"], env) == Path("cli.yaml")
    assert config_path(["app", "--server-config=cli.yaml"], env) == Path("cli.yaml")
    assert config_path(["app"], env) == Path("/from/env.yaml")


def test_a_full_configuration_reads_key_by_key(tmp_path: Path) -> None:
    for name in ("specs", "data", "policies", "up"):
        (tmp_path / name).mkdir()
    (tmp_path / "server.yaml").write_text(
        """
mode: served
roles:
  approver: [{subject: "00u1", issuer: "https://login.example"}]
  auditor: [{email: "a@h.org"}]
default_role: viewer
roots: {specs: [specs], data: [data]}
policy_folder: policies
models:
  pickle_sha256: ["%s"]
  skops_trusted_types: [numpy.dtype]
privacy: {min_cell_size: 20}
registry: postgresql+psycopg://db/audits
uploads: {folder: up, max_file_mb: 10, max_session_mb: 30, max_files: 4, max_rows: 1000}
bundled_example: false
"""
        % ("AB" * 32)
    )
    cfg = load_config(tmp_path / "server.yaml")
    assert cfg.served and cfg.source == (tmp_path / "server.yaml").resolve()
    assert cfg.spec_roots == ((tmp_path / "specs").resolve(),)
    assert cfg.data_roots == ((tmp_path / "data").resolve(),)
    assert cfg.policy_folder == (tmp_path / "policies").resolve()
    assert cfg.pickle_sha256 == frozenset({"ab" * 32})
    assert cfg.skops_trusted_types == ("numpy.dtype",)
    assert cfg.min_cell_size == 20
    assert cfg.registry == "postgresql+psycopg://db/audits"
    assert cfg.uploads.folder == (tmp_path / "up").resolve()
    assert (cfg.uploads.max_file_mb, cfg.uploads.max_files, cfg.uploads.max_rows) == (10, 4, 1000)
    assert cfg.bundled_example is False
    approver = {"iss": "https://login.example", "sub": "00u1"}
    assert cfg.roles_of(approver) == {"approver"}
    assert cfg.roles_of({**approver, "iss": "https://other"}) == {"viewer"}  # default_role
    assert cfg.roles_of({"email": "a@h.org", "email_verified": True}) == {"auditor"}


def test_an_unverified_email_matches_no_identity() -> None:
    entry = Identity(email="cmio@h.org")
    assert entry.matches({"email": "CMIO@h.org", "email_verified": True})
    assert not entry.matches({"email": "cmio@h.org"})
    assert not entry.matches({"email": "cmio@h.org", "email_verified": False})


def test_the_floor_is_never_below_the_tools_own(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("privacy: {min_cell_size: 2}\n")
    assert load_config(tmp_path / "s.yaml").min_cell_size == DEFAULT_MIN_CELL_SIZE


def test_configuration_mistakes_are_named(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    with pytest.raises(AuditInputError) as err:
        load_config(path)
    assert str(err.value) == CONFIG_NOT_FOUND.format(
        file=path, env="AUDITOR_SERVER_CONFIG", arg="--server-config"
    )
    path.write_text("mode: served\nregistyr: x\n")
    with pytest.raises(AuditInputError) as err:
        load_config(path)
    assert str(err.value) == CONFIG_UNKNOWN_KEY.format(
        file=path, where="$", key="registyr", allowed=", ".join(TOP_KEYS)
    )
    path.write_text("roots: {specs: [nowhere]}\n")
    with pytest.raises(AuditInputError) as err:
        load_config(path)
    assert str(err.value) == CONFIG_FOLDER_MISSING.format(
        file=path, where="roots.specs", folder="nowhere"
    )


def test_inside_refuses_every_way_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.yaml").write_text("x")
    (tmp_path / "secret").write_text("s")
    (root / "link.yaml").symlink_to(tmp_path / "secret")
    assert inside("sub/ok.yaml", [root]) == (root / "sub" / "ok.yaml").resolve()
    for bad in (str(tmp_path / "secret"), "../secret", "sub/../../secret", "link.yaml", "~/x", ""):
        assert inside(bad, [root]) is None, bad


ROOT = Path(__file__).resolve().parents[1]


def test_every_key_is_documented_in_the_deploy_guide() -> None:
    from auditor.server_config import MODEL_KEYS, ROLES, ROOT_KEYS, UPLOAD_KEYS

    guide = (ROOT / "docs" / "deploy.md").read_text()
    keys = [
        *TOP_KEYS,
        *(f"roots.{k}" for k in ROOT_KEYS),
        *(f"models.{k}" for k in MODEL_KEYS),
        *(f"uploads.{k}" for k in UPLOAD_KEYS),
        "privacy.min_cell_size",
        *ROLES,
    ]
    for key in keys:
        assert f"`{key}`" in guide or f"`{key}." in guide, key


def test_the_example_configuration_loads(tmp_path: Path) -> None:
    import shutil

    shutil.copy(ROOT / "deploy" / "server.example.yaml", tmp_path / "server.yaml")
    for name in ("specs", "data", "policies", "uploads"):
        (tmp_path / name).mkdir()
    cfg = load_config(tmp_path / "server.yaml")
    assert cfg.served and cfg.registry and cfg.default_role is None
    assert all(cfg.roles[r] for r in ("viewer", "auditor", "approver"))
