"""Who is looking at the page, and what the server lets them do.

Local mode: the person running ``streamlit run`` on their own machine, bound
to 127.0.0.1, with every role, recorded as a local unauthenticated user.
Served mode: nobody sees anything before logging in through Streamlit's OIDC
(``st.login``, ``st.user``, the ``[auth]`` section of secrets.toml); roles come
from the server configuration's lists of identities; a served server without
``[auth]`` shows only the refusal.
"""

from __future__ import annotations

import getpass
import ipaddress
from dataclasses import dataclass
from typing import Any

import streamlit as st

from auditor.dashboard.display import plain
from auditor.server_config import ROLES, Role, ServerConfig, server_config

SERVED_NEEDS_AUTH = (
    "This dashboard is configured as served, but no login is configured: add an [auth] "
    "section (redirect_uri, cookie_secret, client_id, client_secret, server_metadata_url) "
    "to .streamlit/secrets.toml. Nothing is shown until it is."
)
LOCAL_NEEDS_LOOPBACK = (
    "Local mode serves only this machine, but the server listens on {address!r}. Start it "
    "with --server.address 127.0.0.1, or configure served mode with login (docs/deploy.md)."
)
LOGIN_PROMPT = "Log in with your organisation's account to see the audits."
NO_ROLE = (
    "You are logged in as {who}, but this server gives that identity no role. Ask its "
    "operator to add your subject ({subject}) to the server configuration."
)
SIGNED_IN = "Signed in as {who} · {roles}"
LOCAL_USER = "local user {name} (not authenticated)"
AUTH_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
CONFIG_KEY = "_server_config"


@dataclass(frozen=True)
class Viewer:
    """The person behind this session, as the server knows them."""

    roles: frozenset[Role]
    name: str
    issuer: str | None
    subject: str | None
    authenticated: bool

    def can(self, role: Role) -> bool:
        return role in self.roles

    @property
    def label(self) -> str:
        return self.name if self.authenticated else LOCAL_USER.format(name=self.name)


def config() -> ServerConfig:
    """The server configuration in force (a few lines of YAML, read on every run)."""
    return server_config()


def auth_provider() -> str | None:
    """The provider to log in with: None for the default one; raises when [auth] is incomplete."""
    try:
        section: Any = st.secrets.get("auth")
    except Exception:  # no secrets.toml at all
        section = None
    if not section or not all(section.get(k) for k in AUTH_KEYS):
        raise LookupError(SERVED_NEEDS_AUTH)
    if all(section.get(k) for k in PROVIDER_KEYS):
        return None
    for name, value in section.items():
        if hasattr(value, "get") and all(value.get(k) for k in PROVIDER_KEYS):
            return str(name)
    raise LookupError(SERVED_NEEDS_AUTH)


def _loopback(address: str | None) -> bool:
    if not address:
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def admit(cfg: ServerConfig) -> Viewer | None:
    """Decide who may see the page; draws the login or refusal and returns None otherwise."""
    if not cfg.served:
        address = st.get_option("server.address")
        if not _loopback(address):
            st.error(LOCAL_NEEDS_LOOPBACK.format(address=address or "all interfaces"))
            return None
        return Viewer(frozenset(ROLES), getpass.getuser(), None, None, authenticated=False)
    try:
        provider = auth_provider()
    except LookupError as exc:
        st.error(str(exc))
        return None
    user = st.user
    if not user.is_logged_in:
        st.info(LOGIN_PROMPT)
        if st.button("Log in", type="primary", key="login"):
            if provider is None:
                st.login()
            else:
                st.login(provider)
        return None
    claims = user.to_dict()
    name = str(claims.get("name") or claims.get("email") or claims.get("sub") or "")
    roles = cfg.roles_of(claims)
    if st.sidebar.button("Log out", key="logout"):
        st.logout()
    if not roles:
        st.error(NO_ROLE.format(who=name, subject=claims.get("sub", "")))
        return None
    viewer = Viewer(
        roles,
        name,
        str(claims.get("iss") or ""),
        str(claims.get("sub") or ""),
        authenticated=True,
    )
    st.sidebar.caption(
        plain(SIGNED_IN.format(who=name, roles=", ".join(r for r in ROLES if r in roles)))
    )
    return viewer
