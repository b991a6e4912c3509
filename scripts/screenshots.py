"""Screenshots of every dashboard view, for the README and for review (not run in CI).

Starts ``streamlit run streamlit_app.py`` on 127.0.0.1 on a free port, waits
for its health check, drives the system Chromium with Playwright (never
``playwright install``), writes ``docs/screenshots/<view>.png``, and stops the
server by its PID. The History view reads a temporary registry seeded with
two recorded audits of the bundled example, so it has something to show.

Two more servers show what the first cannot: one whose full bootstrap is far too
long to finish (``provisional.png``: the mark the page shows until the audit's own
intervals are ready), and a served one behind a local OIDC provider
(``oidc-provider-mock``): ``login.png`` before login, ``served-signoff.png`` for an
approver signed in.

It also writes ``report-pages.png``: the cover, the executive summary, the All
patients page and the first results page of the demo's ``report.pdf`` at 60 dpi
(``pdftoppm``, Debian poppler-utils), side by side.

    python scripts/screenshots.py [--out docs/screenshots] [--no-history] [--no-served]
        [--no-pages]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.dashboard.app import VIEW_LABELS  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIRST_LOAD_TIMEOUT_MS = 240_000
VIEW_TIMEOUT_MS = 120_000
VIEWPORT = {"width": 1280, "height": 1000}
"""1280 px: a common laptop width, where no table may be cut off."""
INVALID_POLICY_EDIT = "  - id: broken\n    severity: blocker\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def file_name(label: str) -> str:
    return label.lower().replace(" & ", "-").replace(" ", "-") + ".png"


def wait_for_health(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    url = f"http://127.0.0.1:{port}/_stcore/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"streamlit did not answer {url} within {timeout:.0f} s")


def seed_registry(path: Path) -> None:
    """Record two releases of the example (thresholds 0.25 then 0.2) and sign off the first."""
    import yaml

    from auditor.audit import run_audit
    from auditor.load.examples import EXAMPLE_DIR
    from auditor.load.spec_loader import load_spec
    from auditor.registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "example"
        shutil.copytree(EXAMPLE_DIR, folder)
        spec = yaml.safe_load((folder / "spec.yaml").read_text())
        registry = Registry(str(path))
        try:
            for version, threshold in (("0.9", 0.25), ("1.0", 0.2)):
                spec.update(threshold=threshold, bootstrap=200)
                spec["model"]["version"] = version
                spec_path = folder / f"spec-{version}.yaml"
                spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
                report = run_audit(load_spec(spec_path)).report
                entry = registry.record(report, report_json=report.to_json(), ran_by="ci")
                if version == "0.9":
                    registry.signoff(
                        entry.audit_id,
                        by="Dr. A. Reviewer",
                        role="Clinical AI governance committee",
                        decision="approve",
                        comment="Approved for the outreach pilot.",
                    )
        finally:
            registry.close()


def settle(page: object) -> None:
    """Wait until Streamlit is no longer running the script."""
    page.wait_for_timeout(400)  # type: ignore[attr-defined]
    page.locator('[data-testid="stStatusWidget"]').wait_for(  # type: ignore[attr-defined]
        state="detached", timeout=VIEW_TIMEOUT_MS
    )
    page.wait_for_timeout(800)  # type: ignore[attr-defined]


def snap(page: object, path: Path) -> None:
    """Grow the viewport to the page's content (Streamlit scrolls inside its main area)."""
    height = page.evaluate(  # type: ignore[attr-defined]
        """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]',
                             '[data-testid="stSidebarContent"]']
              .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))"""
    )
    page.set_viewport_size(  # type: ignore[attr-defined]
        {"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], int(height) + 40)}
    )
    page.wait_for_timeout(600)  # type: ignore[attr-defined]
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    page.set_viewport_size(VIEWPORT)  # type: ignore[attr-defined]


def shoot(out: Path, port: int) -> list[Path]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("no system Chromium found (Debian: apt-get install chromium)")
    written: list[Path] = []
    base = f"http://127.0.0.1:{port}/"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        # The first load after a server start can paint blank: load once, wait, then shoot.
        page.goto(base, wait_until="networkidle")
        page.get_by_text("Key metrics per group").wait_for(timeout=FIRST_LOAD_TIMEOUT_MS)
        # The audit's own bootstrap replaces the interactive numbers by itself.
        page.get_by_text("full intervals:").wait_for(timeout=FIRST_LOAD_TIMEOUT_MS)
        settle(page)
        for label in VIEW_LABELS:
            extra = "&threshold=0.3" if label == "Compare" else ""
            page.goto(f"{base}?view={quote(label)}{extra}", wait_until="networkidle")
            page.get_by_role("tab", name=label, selected=True).wait_for(timeout=VIEW_TIMEOUT_MS)
            settle(page)
            if label == "Export":
                page.get_by_role("button", name="Prepare the files").click()
                page.get_by_text("Governance summary").wait_for(timeout=VIEW_TIMEOUT_MS)
                settle(page)
            path = out / file_name(label)
            snap(page, path)
            written.append(path)
        # The policy editor with an invalid edit: errors beside the editor.
        page.goto(f"{base}?view=Policy", wait_until="networkidle")
        settle(page)
        page.get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option", name="Edit a policy as YAML").click()
        settle(page)
        editor = page.get_by_role("textbox", name="Policy (YAML)")
        editor.click()
        page.keyboard.press("Control+End")
        page.keyboard.type("\n" + INVALID_POLICY_EDIT)
        page.keyboard.press("Control+Enter")
        settle(page)
        path = out / "policy-invalid-edit.png"
        snap(page, path)
        written.append(path)
        # The upload form: the example's data uploaded, the guessed columns to review.
        page.goto(base, wait_until="networkidle")
        settle(page)
        page.get_by_text("Upload data and model").click()
        settle(page)
        page.locator('input[type="file"]').first.set_input_files(
            str(ROOT / "auditor" / "example_data" / "audit_cohort.csv")
        )
        page.get_by_text("What to audit").wait_for(timeout=VIEW_TIMEOUT_MS)
        settle(page)
        path = out / "upload.png"
        snap(page, path)
        written.append(path)
        browser.close()
    return written


class Server:
    """``streamlit run streamlit_app.py`` on a free port of 127.0.0.1, stopped by its PID."""

    def __init__(
        self,
        tmp: Path,
        env: dict[str, str],
        extra: list[str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        command = [
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
            str(self.port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            *(extra or []),
        ]
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT), full_env.get("PYTHONPATH")])
        )
        full_env.pop("AUDITOR_SPEC", None)
        full_env.update(env)
        self.log = (tmp / f"streamlit-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for_health(self.port, self.process)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _browser(p: object) -> object:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("no system Chromium found (Debian: apt-get install chromium)")
    return p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)  # type: ignore[attr-defined]


def shoot_provisional(out: Path, tmp: Path) -> list[Path]:
    """The page while the audit's own bootstrap is still running: the PROVISIONAL mark."""
    from playwright.sync_api import sync_playwright

    server = Server(tmp, {"AUDITOR_DASHBOARD_FULL_BOOTSTRAP": "1000000"})
    try:
        with sync_playwright() as p:
            browser = _browser(p)
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)  # type: ignore[attr-defined]
            page.goto(server.url, wait_until="networkidle")
            page.get_by_text("Key metrics per group").wait_for(timeout=FIRST_LOAD_TIMEOUT_MS)
            page.get_by_text("PROVISIONAL").wait_for(timeout=VIEW_TIMEOUT_MS)
            page.wait_for_timeout(1500)
            path = out / "provisional.png"
            page.screenshot(path=str(path))
            browser.close()  # type: ignore[attr-defined]
    finally:
        server.stop()
    return [path]


def shoot_served(out: Path, tmp: Path) -> list[Path]:
    """A served dashboard behind a local OIDC provider: the login, then an approver's sign-off."""
    import json

    import yaml
    from playwright.sync_api import sync_playwright

    binary = shutil.which("oidc-provider-mock")
    if binary is None:
        raise RuntimeError("oidc-provider-mock is not installed (pip install oidc-provider-mock)")
    idp_port = free_port()
    claims = {"sub": "cmio-7f3a", "name": "Dr A. Chen", "email": "a.chen@hospital.example"}
    idp = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(idp_port), "--user-claims", json.dumps(claims)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = None
    try:
        metadata = f"http://127.0.0.1:{idp_port}/.well-known/openid-configuration"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(metadata, timeout=2) as response:
                    issuer = json.loads(response.read())["issuer"]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        registry = tmp / "served-registry.db"
        seed_registry(registry)
        uploads = tmp / "uploads"
        uploads.mkdir()
        config = tmp / "server.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "mode": "served",
                    "roles": {"approver": [{"subject": "cmio-7f3a", "issuer": issuer}]},
                    "registry": str(registry),
                    "uploads": {"folder": str(uploads)},
                }
            )
        )
        port = free_port()
        secrets = tmp / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            'cookie_secret = "screenshots-only-cookie-secret-0123456789abcdef"\n'
            'client_id = "clinical-fairness-auditor"\n'
            'client_secret = "screenshots"\n'
            f'server_metadata_url = "{metadata}"\n'
        )
        server = Server(
            tmp,
            {"AUDITOR_SERVER_CONFIG": str(config)},
            ["--secrets.files", str(secrets)],
            port=port,
        )
        base = f"http://127.0.0.1:{port}/"
        written = []
        with sync_playwright() as p:
            browser = _browser(p)
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)  # type: ignore[attr-defined]
            page.goto(base, wait_until="networkidle")
            page.get_by_text("Log in with your organisation").wait_for(timeout=VIEW_TIMEOUT_MS)
            page.wait_for_timeout(800)
            path = out / "login.png"
            page.screenshot(path=str(path))
            written.append(path)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("button", name="cmio-7f3a").click()
            page.get_by_text("Signed in as Dr A. Chen").wait_for(timeout=FIRST_LOAD_TIMEOUT_MS)
            page.get_by_text("full intervals:").wait_for(timeout=FIRST_LOAD_TIMEOUT_MS)
            page.goto(f"{base}?view=History", wait_until="networkidle")
            page.get_by_text("Signing as Dr A. Chen").wait_for(timeout=FIRST_LOAD_TIMEOUT_MS)
            settle(page)
            page.get_by_text("Sign off an audit").scroll_into_view_if_needed()
            page.mouse.wheel(0, 300)
            page.wait_for_timeout(800)
            path = out / "served-signoff.png"
            page.screenshot(path=str(path))
            written.append(path)
            browser.close()  # type: ignore[attr-defined]
        return written
    finally:
        if server is not None:
            server.stop()
        idp.terminate()
        idp.wait(timeout=15)


def report_pages(out: Path) -> Path:
    """The demo's report.pdf: cover, summary, All patients and first results page, 60 dpi."""
    from PIL import Image, ImageOps
    from pypdf import PdfReader

    from auditor.audit import run_audit
    from auditor.load.examples import demo_spec_path
    from auditor.load.spec_loader import load_spec
    from reports import render

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = render(run_audit(load_spec(demo_spec_path())).report, folder)
        texts = [page.extract_text() or "" for page in PdfReader(files["pdf"]).pages]
        wanted = [1, 2]
        wanted.append(next(i + 1 for i, t in enumerate(texts) if "All patients" in t.splitlines()))
        wanted.append(next(i + 1 for i, t in enumerate(texts) if "Results by " in t and i > 2))
        images = []
        for number in wanted:
            prefix = folder / f"page-{number}"
            subprocess.run(
                ["pdftoppm", "-png", "-r", "60", "-f", str(number), "-l", str(number),
                 "-singlefile", str(files["pdf"]), str(prefix)],
                check=True,
            )  # fmt: skip
            page = Image.open(f"{prefix}.png").convert("RGB")
            images.append(ImageOps.expand(page, border=2, fill="#888888"))
        gap = 16
        width = sum(i.width for i in images) + gap * (len(images) - 1)
        sheet = Image.new("RGB", (width, max(i.height for i in images)), "white")
        x = 0
        for image in images:
            sheet.paste(image, (x, 0))
            x += image.width + gap
        path = out / "report-pages.png"
        sheet.save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--no-history", action="store_true", help="do not seed a registry")
    parser.add_argument(
        "--no-served", action="store_true", help="skip the login and provisional screenshots"
    )
    parser.add_argument(
        "--served-only", action="store_true", help="only the login and provisional screenshots"
    )
    parser.add_argument("--no-pages", action="store_true", help="do not render report-pages.png")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_pages and not args.served_only:
        print("rendering the demo's report pages…", flush=True)
        print(report_pages(args.out), flush=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="auditor-screenshots-") as tmp:
        if not args.served_only:
            registry = Path(tmp) / "registry.db"
            if not args.no_history:
                print("seeding a temporary registry with two audits of the example…", flush=True)
                seed_registry(registry)
            server = Server(Path(tmp), {"AUDITOR_REGISTRY": str(registry)})
            try:
                written += shoot(args.out, server.port)
            finally:
                server.stop()
        if not args.no_served:
            written += shoot_provisional(args.out, Path(tmp))
            written += shoot_served(args.out, Path(tmp))
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
