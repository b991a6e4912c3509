"""A real login: an OIDC provider, the served dashboard, and a browser, all on 127.0.0.1.

``oidc-provider-mock`` serves a real OpenID Connect provider (discovery, RS256
ID tokens, authorization-code grant) with a predefined user; ``streamlit run``
serves the dashboard in served mode against it (``[auth]`` in a secrets file,
roles in the server configuration); Playwright drives the system Chromium
through the provider's login form, sees the approver's views, and signs off.
The registry entry must carry the provider's issuer and subject.

Runs in CI (``.ci/run`` installs chromium); locally it is skipped only when
Chromium or the provider is missing and ``CI`` is not set.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from postgres_fixture import in_ci
from report_factory import make_report
from served_helpers import make_site

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SUBJECT = "cmio-7f3a"
DISPLAY_NAME = "Dr A. Chen"
TIMEOUT_MS = 180_000


def _need(thing: str, present: bool) -> None:
    if not present:
        if in_ci():
            pytest.fail(f"{thing} is required in CI (installed by .ci/run)")
        pytest.skip(f"{thing} is not installed (CI installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bytes(response.read())
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture()
def provider() -> Iterator[dict[str, Any]]:
    """The OIDC provider on a free port, with the approver as a predefined user."""
    binary = shutil.which("oidc-provider-mock")
    _need("oidc-provider-mock", binary is not None)
    assert binary is not None
    port = _free_port()
    claims = {"sub": SUBJECT, "name": DISPLAY_NAME, "email": "a.chen@hospital.test"}
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port), "--user-claims", json.dumps(claims)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
        discovery = json.loads(_wait(url, process))
        yield {"metadata": url, "issuer": discovery["issuer"]}
    finally:
        _stop(process)


@pytest.fixture()
def dashboard(tmp_path: Path, provider: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The served dashboard configured against the provider, with one recorded audit."""
    site = make_site(
        tmp_path / "site",
        roles={
            "viewer": [{"subject": "someone-else"}],
            "approver": [{"subject": SUBJECT, "issuer": provider["issuer"]}],
        },
    )
    from auditor.registry import Registry

    with Registry(str(site.registry)) as registry:
        report = make_report()
        audit_id = registry.record(report, report_json=report.to_json(), ran_by="ci").audit_id
    port = _free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-long-random-cookie-secret-for-the-test-0123456789"\n'
        'client_id = "auditor-dashboard"\n'
        'client_secret = "test-secret"\n'
        f'server_metadata_url = "{provider["metadata"]}"\n'
    )
    env = {
        **os.environ,
        "AUDITOR_SERVER_CONFIG": str(site.config),
        "AUDITOR_DASHBOARD_BOOTSTRAP": "0",
        "AUDITOR_DASHBOARD_FULL_BOOTSTRAP": "20",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("AUDITOR_SPEC", None)
    env.pop("AUDITOR_REGISTRY", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "streamlit_app.py"),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            "--secrets.files",
            str(secrets),
            "--server.disconnectedSessionTTL",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/_stcore/health", process)
        yield {"url": f"http://127.0.0.1:{port}", "site": site, "audit_id": audit_id}
    finally:
        _stop(process)


def test_login_through_the_provider_then_sign_off_with_its_subject(
    dashboard: dict[str, Any], provider: dict[str, Any]
) -> None:
    chromium = shutil.which("chromium")
    _need("chromium", chromium is not None)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(dashboard["url"])
            # Nothing but the login before it.
            page.get_by_text("Log in with your organisation's account").wait_for()
            assert page.get_by_text("Audit input").count() == 0
            page.get_by_role("button", name="Log in").click()
            # The provider's own form: authorise the predefined user.
            page.get_by_role("button", name=SUBJECT).click()
            page.get_by_text(f"Signed in as {DISPLAY_NAME}").wait_for()
            page.get_by_text("approver").first.wait_for()
            # An approver may not upload (that is the auditor's role).
            page.get_by_text("Audit input").wait_for()
            assert page.get_by_text("Upload data and model").count() == 0
            page.goto(dashboard["url"] + "/?view=History")
            page.get_by_text("Sign off an audit").wait_for()
            page.get_by_text(f"Signing as {DISPLAY_NAME} (approver)").wait_for()
            assert page.get_by_label("Your name").count() == 0
            page.get_by_text("approve", exact=True).click()
            page.get_by_label("Comment (required to reject)").fill(
                "Approved for the pilot ward only; re-audit after 3 months."
            )
            page.get_by_role("button", name="Sign off").click()
            page.get_by_text(f"approved by {DISPLAY_NAME} [{SUBJECT}").wait_for()
        finally:
            browser.close()

    # The browser is gone: its session ends, and its upload folder with it.
    uploads = dashboard["site"].uploads
    deadline = time.monotonic() + 120
    while list(uploads.glob("auditor-session-*")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not list(uploads.glob("auditor-session-*"))

    from auditor.registry import Registry

    with Registry(str(dashboard["site"].registry)) as registry:
        (entry,) = registry.signoffs(dashboard["audit_id"])
    assert entry.signer_subject == SUBJECT
    assert entry.signer_issuer == provider["issuer"]
    assert (entry.signed_by, entry.role, entry.authenticated) == (DISPLAY_NAME, "approver", True)
