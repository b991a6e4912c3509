"""History: the model across recorded releases, sign-offs and the tamper-evident log.

Drawn by ``auditor.dashboard_history.render_history_view``. Served, the
registry is the one the server configuration names (the page offers no
choice) and only approvers get the sign-off form, which records their login.
Local, it is $AUDITOR_REGISTRY or the one typed here (default: the local
SQLite file) and the signer is a local, unauthenticated user.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

import streamlit as st

from auditor.dashboard import state

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext

URL_KEY = "registry_url"
NO_REGISTRY = "This server keeps no registry of audits (no registry in its configuration)."
SIGNOFF_ROLE: Final = "approver"


@st.cache_resource(show_spinner="Opening the registry…", max_entries=4)
def _registry(url: str) -> Any:
    from auditor.registry import Registry

    return Registry(url or None)


def render(ctx: ViewContext) -> None:
    from auditor.dashboard_history import Signer, render_history_view
    from auditor.registry import ENV_REGISTRY

    config = ctx.config
    viewer = ctx.viewer
    if config is not None and config.served:
        if not config.registry:
            st.info(NO_REGISTRY)
            return
        url = config.registry
        signer: Signer | None = None
        if viewer is not None and viewer.can(SIGNOFF_ROLE) and viewer.authenticated:
            signer = Signer(viewer.name, SIGNOFF_ROLE, viewer.issuer, viewer.subject)
    else:
        url = st.text_input(
            "Registry (database URL or SQLite file)",
            value=(config.registry if config and config.registry else None)
            or os.environ.get(ENV_REGISTRY, ""),
            key=URL_KEY,
            placeholder="empty: the local registry file",
            help=f"Defaults to ${ENV_REGISTRY}, else the local SQLite registry the CLI uses.",
        ).strip()
        signer = Signer()
    registry = state.guarded(_registry, url)
    if registry is None:
        return
    served = config is not None and config.served
    render_history_view(st, registry, signer=signer, show_url=not served)
