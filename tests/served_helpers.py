"""A served dashboard's folders and configuration, for the AppTest and browser tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor.load.examples import EXAMPLE_DIR

ISSUER = "https://idp.test"
AUTH_SECRETS = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-enough-length-0123456789",
    "client_id": "auditor-dashboard",
    "client_secret": "test-client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
CANARY = "CANARY-server-secret-line-7f3a"
"""Content of a server file no viewer may ever see."""


@dataclass
class ServedSite:
    """Folders of a served deployment made under a test's temporary folder."""

    root: Path
    config: Path
    specs: Path
    data: Path
    policies: Path
    uploads: Path
    registry: Path
    secret: Path

    def spec(self, file_name: str, **changes: Any) -> Path:
        """A copy of the example spec in the spec folder, its files in the data folder."""
        raw = yaml.safe_load((EXAMPLE_DIR / "spec.yaml").read_text())
        raw["data"] = str(self.data / "audit_cohort.csv")
        raw["model"]["path"] = str(self.data / "model.skops")
        raw.update(changes)
        path = self.specs / file_name
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path


def make_site(
    root: Path,
    *,
    roles: dict[str, list[dict[str, str]]] | None = None,
    registry: str | None = None,
    **extra: Any,
) -> ServedSite:
    """Folders, the example's data and model, a secret file outside them, and the config."""
    site = ServedSite(
        root=root,
        config=root / "server.yaml",
        specs=root / "specs",
        data=root / "data",
        policies=root / "policies",
        uploads=root / "uploads",
        registry=root / "registry.db",
        secret=root / "secret.txt",
    )
    for folder in (site.specs, site.data, site.policies, site.uploads):
        folder.mkdir(parents=True, exist_ok=True)
    for name in ("audit_cohort.csv", "model.skops"):
        shutil.copy(EXAMPLE_DIR / name, site.data / name)
    site.secret.write_text(f"root:{CANARY}:19000:0:99999:7:::\n")
    config: dict[str, Any] = {
        "mode": "served",
        "roles": roles
        if roles is not None
        else {
            "viewer": [{"subject": "vera"}],
            "auditor": [{"subject": "alice", "issuer": ISSUER}],
            "approver": [{"subject": "cmio", "issuer": ISSUER}],
        },
        "roots": {"specs": [str(site.specs)], "data": [str(site.data)]},
        "policy_folder": str(site.policies),
        "privacy": {"min_cell_size": 11},
        "registry": registry if registry is not None else str(site.registry),
        "uploads": {"folder": str(site.uploads), "max_file_mb": 5, "max_files": 6},
    }
    config.update(extra)
    site.config.write_text(yaml.safe_dump(config, sort_keys=False))
    return site


def user(subject: str, name: str) -> dict[str, Any]:
    """Claims of a logged-in user, as st.user gives them."""
    return {"is_logged_in": True, "iss": ISSUER, "sub": subject, "name": name}
