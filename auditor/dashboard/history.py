"""History: the model across recorded releases, sign-offs and the tamper-evident log.

Drawn by ``auditor.dashboard_history.render_history_view`` over the registry
named by $AUDITOR_REGISTRY (or the one typed here; default: the local SQLite file).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import streamlit as st

from auditor.dashboard import state

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext

URL_KEY = "registry_url"


@st.cache_resource(show_spinner="Opening the registry…", max_entries=4)
def _registry(url: str) -> Any:
    from auditor.registry import Registry

    return Registry(url or None)


def render(ctx: ViewContext) -> None:
    from auditor.dashboard_history import render_history_view
    from auditor.registry import ENV_REGISTRY

    url = st.text_input(
        "Registry (database URL or SQLite file)",
        value=os.environ.get(ENV_REGISTRY, ""),
        key=URL_KEY,
        placeholder="empty: the local registry file",
        help=f"Defaults to ${ENV_REGISTRY}, else the local SQLite registry the CLI uses.",
    ).strip()
    registry = state.guarded(_registry, url)
    if registry is None:
        return
    render_history_view(st, registry)
