"""The served dashboard against a hostile viewer: every attack of issue 14, refused.

Each test configures a served deployment (server configuration in the server's
environment, an ``[auth]`` secrets section, a logged-in ``st.user``) and drives
the page with AppTest. What is checked: the refusal's exact message, that no
marker file was written, that no server file's content reaches the page, that
no group below the floor is shown, and that no upload is left behind.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import re
import stat
import sys
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import joblib
import pytest
import skops.io as sio
from streamlit.testing.v1 import AppTest

from auditor.dashboard import access, inputs, policy_editor, state, trust, uploads
from auditor.dashboard.app import UPLOADS_KEY
from auditor.judge.policy import POLICY_NOT_ALLOWED
from auditor.load.examples import EXAMPLE_DIR
from auditor.load.safe_yaml import MAX_YAML_NODES, YAML_TOO_MANY_NODES
from auditor.registry import Registry
from auditor.registry.service import MSG_APPROVE_NEEDS_CONDITIONS
from auditor.server_config import ENV_SERVER_CONFIG

sys.path.insert(0, str(Path(__file__).parent))
from report_factory import make_report
from served_helpers import AUTH_SECRETS, CANARY, ISSUER, ServedSite, make_site, user
from test_app import APP, VERDICTS, _page_text, unescape


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServedSite:
    made = make_site(tmp_path / "site")
    monkeypatch.setenv(ENV_SERVER_CONFIG, str(made.config))
    monkeypatch.setenv("AUDITOR_DASHBOARD_BOOTSTRAP", "0")
    monkeypatch.setenv("AUDITOR_DASHBOARD_FULL_BOOTSTRAP", "20")
    monkeypatch.delenv(inputs.ENV_SPEC, raising=False)
    monkeypatch.delenv("AUDITOR_REGISTRY", raising=False)
    monkeypatch.setattr(sys, "argv", ["streamlit_app.py"])
    return made


def _served(who: dict[str, Any] | None, *, auth: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if auth:
        at.secrets["auth"] = dict(AUTH_SECRETS)
    if who is not None:
        at.user = who
    return at


ALICE = user("alice", "Alice Auditor")
CMIO = user("cmio", "Dr A. Chen")
VERA = user("vera", "Vera Viewer")


def _errors(at: AppTest) -> list[str]:
    return [unescape(e.value) for e in at.error if not e.value.startswith(VERDICTS)]


def _no_secret(at: AppTest) -> None:
    assert CANARY not in _page_text(at)


def _session_folders(site: ServedSite) -> list[Path]:
    return sorted(site.uploads.glob(uploads.SESSION_PREFIX + "*"))


# -- modes and login ---------------------------------------------------------------------


def test_served_without_auth_refuses_to_show_anything(site: ServedSite) -> None:
    at = _served(ALICE, auth=False).run()
    assert not at.exception
    assert [e.value for e in at.error] == [access.SERVED_NEEDS_AUTH]
    assert not at.sidebar.radio and not at.tabs


def test_served_asks_for_login_first(site: ServedSite) -> None:
    at = _served({"is_logged_in": False}).run()
    assert not at.exception
    assert [i.value for i in at.info] == [access.LOGIN_PROMPT]
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.sidebar.radio and not at.tabs


def test_an_identity_no_role_names_is_refused(site: ServedSite) -> None:
    at = _served(user("mallory", "Mallory")).run()
    assert [e.value for e in at.error] == [access.NO_ROLE.format(who="Mallory", subject="mallory")]
    assert not at.sidebar.radio


def test_a_subject_from_another_issuer_gets_no_role(site: ServedSite) -> None:
    at = _served({**ALICE, "iss": "https://evil.test"}).run()
    assert at.error and not at.sidebar.radio


def test_viewer_cannot_upload_or_open_typed_paths(site: ServedSite) -> None:
    at = _served(VERA).run()
    assert not at.exception
    options = at.sidebar.radio(key="source").options
    assert inputs.SOURCE_UPLOAD not in options and inputs.SOURCE_PATH not in options
    assert inputs.SOURCE_REPORT not in options


def test_local_mode_refuses_to_listen_beyond_this_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_SERVER_CONFIG, raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    import streamlit

    real = streamlit.get_option
    monkeypatch.setattr(
        streamlit,
        "get_option",
        lambda key: "0.0.0.0" if key == "server.address" else real(key),
    )
    at.run()
    assert [e.value for e in at.error] == [access.LOCAL_NEEDS_LOOPBACK.format(address="0.0.0.0")]


# -- code execution --------------------------------------------------------------------


class _Marker:
    """Writes a marker file when unpickled: proof that code ran on the server."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.path!r}, 'w').write('pwned')",))


def _upload_form(at: AppTest, model: tuple[str, bytes]) -> AppTest:
    at.session_state["source"] = inputs.SOURCE_UPLOAD
    at.run()
    data = (EXAMPLE_DIR / "audit_cohort.csv").read_bytes()
    at.sidebar.file_uploader(key="data_upload").set_value(("cohort.csv", data, "text/csv"))
    at.sidebar.file_uploader(key="model_upload").set_value(
        (model[0], model[1], "application/octet-stream")
    )
    at.run()
    at.sidebar.selectbox(key="up_label").set_value("hospitalized")
    at.sidebar.multiselect(key="up_sensitive").set_value(["race", "sex"])
    return at.run()


def test_an_uploaded_pickle_does_not_run_even_with_its_own_hash(
    site: ServedSite, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    payload = joblib_bytes(_Marker(marker))
    at = _upload_form(_served(ALICE), ("model.pkl", payload))
    assert not at.exception
    # The page offers no box to pin a hash or to trust skops types: trust is the server's.
    keys = {w.key for w in at.sidebar.text_input}
    assert "up_sha256" not in keys and "up_trusted" not in keys
    assert _errors(at) == [trust.PICKLE_NOT_ALLOWED.format(spec="uploaded-spec.yaml")]
    assert not marker.exists()
    assert hashlib.sha256(payload).hexdigest() not in _page_text(at)
    held = at.session_state[UPLOADS_KEY]
    assert not [p for p in held.folder.rglob("*.pkl")]  # the refused pickle is not kept


def joblib_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def test_a_pickle_on_the_servers_allow_list_loads(site: ServedSite, tmp_path: Path) -> None:
    payload = joblib_bytes(sio.load(EXAMPLE_DIR / "model.skops"))
    make_site(site.root, models={"pickle_sha256": [hashlib.sha256(payload).hexdigest()]})
    at = _upload_form(_served(ALICE), ("model.pkl", payload))
    assert not at.exception
    assert not _errors(at)
    assert any(a.value.startswith(VERDICTS) for a in (*at.error, *at.warning, *at.success))


def _neg_model() -> bytes:
    import operator

    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame = pd.read_csv(EXAMPLE_DIR / "audit_cohort.csv")
    model = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression(max_iter=200))
    model.fit(frame[["age", "numchron"]], frame["hospitalized"])
    buffer = io.BytesIO()
    sio.dump(model, buffer)
    return buffer.getvalue()


def test_skops_types_come_from_the_server_not_the_spec(site: ServedSite) -> None:
    (site.data / "neg.skops").write_bytes(_neg_model())
    site.spec(
        "neg.yaml",
        model={"path": str(site.data / "neg.skops"), "trusted_types": ["_operator.neg"]},
        features=["age", "numchron"],
    )
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_SERVER
    at.session_state["server_spec"] = "neg.yaml"
    at.run()
    shown = _errors(at)
    assert len(shown) == 1 and "_operator.neg" in shown[0]
    make_site(site.root, models={"skops_trusted_types": ["_operator.neg"]})
    site.spec(
        "neg.yaml", model={"path": str(site.data / "neg.skops")}, features=["age", "numchron"]
    )
    at.run()
    assert not _errors(at)


# -- reading server files ----------------------------------------------------------------


def test_no_typed_path_outside_the_spec_folder_is_opened(site: ServedSite) -> None:
    (site.specs / "link.yaml").symlink_to(site.secret)
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_SERVER
    at.run()
    assert inputs.SOURCE_PATH not in at.sidebar.radio(key="source").options
    for typed in (str(site.secret), "../secret.txt", "link.yaml", "missing.yaml", "~/x.yaml"):
        at.sidebar.text_input(key="server_spec").input(typed).run()
        assert not at.exception
        # One message whether the file exists or not: the answer reveals nothing.
        assert _errors(at) == [inputs.SPEC_NOT_ALLOWED.format(name=typed)], typed
        _no_secret(at)


def test_a_spec_cannot_point_the_server_at_its_files(site: ServedSite) -> None:
    site.spec("steal.yaml", data=str(site.secret))
    site.spec("missing.yaml", data=str(site.data / "nothing-here.csv"))
    site.spec("escape.yaml", data="../secret.txt")
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_SERVER
    for name in ("steal.yaml", "missing.yaml", "escape.yaml"):
        at.session_state["server_spec"] = name
        at.run()
        assert _errors(at) == [trust.DATA_NOT_ALLOWED.format(spec=name)], name
        _no_secret(at)


@pytest.mark.parametrize("target", ["/etc/shadow", "SECRET", "../secret.txt", "../../secret.txt"])
def test_policy_extends_reaches_only_packs_and_the_policy_folder(
    site: ServedSite, target: str
) -> None:
    target = str(site.secret) if target == "SECRET" else target
    text = f'id: sneaky\ntitle: t\nversion: "1"\nextends: {target}\nrules: []\n'
    at = _served(ALICE).run()
    at.session_state["view"] = "Policy"
    at.run()
    at.selectbox(key=policy_editor.CHOICE_KEY).set_value(policy_editor.EDIT).run()
    at.text_area(key=policy_editor.TEXT_KEY).input(text).run()
    assert not at.exception
    expected = f"policy editor: $.extends: {POLICY_NOT_ALLOWED.format(ref=target)}"
    assert _errors(at) == [expected]
    _no_secret(at)
    assert "root:" not in _page_text(at)


def test_policy_folder_policies_may_be_extended(site: ServedSite) -> None:
    (site.policies / "team.yaml").write_text(
        'id: team\ntitle: Team\nversion: "1"\nextends: clinical-default\nrules: []\n'
    )
    text = 'id: mine\ntitle: Mine\nversion: "1"\nextends: team.yaml\nrules: []\n'
    at = _served(ALICE).run()
    at.session_state["view"] = "Policy"
    at.run()
    at.selectbox(key=policy_editor.CHOICE_KEY).set_value(policy_editor.EDIT).run()
    at.text_area(key=policy_editor.TEXT_KEY).input(text).run()
    assert not _errors(at)
    assert any("policy mine ·" in c.value for c in at.caption)


def test_a_spec_naming_a_policy_outside_the_folder_is_refused(site: ServedSite) -> None:
    site.spec("p.yaml", policy=str(site.secret))
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_SERVER
    at.session_state["server_spec"] = "p.yaml"
    at.run()
    assert _errors(at) == [POLICY_NOT_ALLOWED.format(ref=str(site.secret))]
    _no_secret(at)


def test_a_yaml_alias_bomb_in_the_editor_is_refused(site: ServedSite) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    at = _served(ALICE).run()
    at.session_state["view"] = "Policy"
    at.run()
    at.selectbox(key=policy_editor.CHOICE_KEY).set_value(policy_editor.EDIT).run()
    at.text_area(key=policy_editor.TEXT_KEY).input("\n".join(lines)).run()
    assert not at.exception
    assert _errors(at) == [
        YAML_TOO_MANY_NODES.format(source=policy_editor.EDITOR_NAME, limit=MAX_YAML_NODES)
    ]


# -- privacy floor ------------------------------------------------------------------------


def test_a_spec_cannot_lower_the_servers_privacy_floor(site: ServedSite) -> None:
    site.spec("open.yaml", min_cell_size=1)
    site.spec("stricter.yaml", min_cell_size=20)
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_SERVER
    at.session_state["server_spec"] = "open.yaml"
    at.run()
    assert _errors(at) == [trust.FLOOR_LOWERED.format(spec="open.yaml", value=1, floor=11)]
    assert not at.dataframe and not at.tabs
    at.sidebar.text_input(key="server_spec").input("stricter.yaml").run()
    assert not _errors(at)
    assert "groups under 20 patients are suppressed" in _page_text(at) or at.tabs


def test_a_spec_uploaded_as_data_is_refused_and_not_kept(site: ServedSite) -> None:
    spec_text = site.spec("own.yaml", min_cell_size=1).read_bytes()
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_UPLOAD
    at.run()
    at.sidebar.file_uploader(key="data_upload").set_value(
        ("spec.yaml", spec_text, "application/x-yaml")
    ).run()
    assert not at.exception
    shown = _errors(at)
    assert len(shown) == 1 and "spec.yaml" in shown[0]
    held = at.session_state[UPLOADS_KEY]
    assert str(held.folder) not in _page_text(at) and str(site.uploads) not in _page_text(at)
    assert not held.files and not any(p.is_file() for p in held.folder.rglob("*"))


# -- uploads ------------------------------------------------------------------------------


def test_uploads_live_in_a_private_folder_removed_with_the_session(site: ServedSite) -> None:
    stale = site.uploads / f"{uploads.SESSION_PREFIX}999999999-left"
    stale.mkdir()
    (stale / "patients.csv").write_text("id\n1\n")
    planted = site.root / "planted"
    planted.mkdir()
    (planted / "keep.txt").write_text("not ours")
    (site.uploads / f"{uploads.SESSION_PREFIX}{os.getpid()}-planted").symlink_to(planted)
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_UPLOAD
    at.run()
    data = (EXAMPLE_DIR / "audit_cohort.csv").read_bytes()
    at.sidebar.file_uploader(key="data_upload").set_value(("cohort.csv", data, "text/csv")).run()
    assert not at.exception
    assert not stale.exists()  # left by a server process that no longer runs
    assert (planted / "keep.txt").read_text() == "not ours"  # a planted link is not followed
    held = at.session_state[UPLOADS_KEY]
    folder = held.folder
    assert folder.parent == site.uploads and not folder.is_symlink()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (kept,) = [p for p in folder.rglob("*") if p.is_file()]
    assert kept.name == "cohort.csv" and stat.S_IMODE(kept.stat().st_mode) == 0o600
    del held, at
    gc.collect()
    assert not folder.exists()


def test_upload_quotas_refuse_and_keep_nothing(site: ServedSite) -> None:
    make_site(site.root, uploads={"folder": str(site.uploads), "max_rows": 100})
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_UPLOAD
    at.run()
    data = (EXAMPLE_DIR / "audit_cohort.csv").read_bytes()
    rows = uploads.count_rows("cohort.csv", data)
    at.sidebar.file_uploader(key="data_upload").set_value(("cohort.csv", data, "text/csv")).run()
    assert _errors(at) == [uploads.TOO_MANY_ROWS.format(name="cohort.csv", rows=rows, limit=100)]
    assert not at.session_state[UPLOADS_KEY].files
    make_site(site.root, uploads={"folder": str(site.uploads), "max_file_mb": 0.01})
    at.run()
    size = len(data) / uploads.MB
    assert _errors(at) == [
        uploads.UPLOAD_TOO_LARGE.format(name="cohort.csv", size=size, limit=0.01)
    ]


# -- identity in the record ---------------------------------------------------------------


def _seed(site: ServedSite) -> int:
    with Registry(str(site.registry)) as registry:
        report = make_report()
        return registry.record(report, report_json=report.to_json(), ran_by="ci").audit_id


def test_history_uses_the_servers_registry_and_only_approvers_sign(site: ServedSite) -> None:
    _seed(site)
    at = _served(VERA).run()
    at.session_state["view"] = "History"
    at.run()
    assert not at.exception
    assert "registry_url" not in {w.key for w in at.text_input}
    assert not any(b.label == "Sign off" for b in at.button)


def test_an_approvers_signoff_carries_their_login(site: ServedSite) -> None:
    audit_id = _seed(site)
    at = _served(CMIO).run()
    at.session_state["view"] = "History"
    at.run()
    keys = {w.key for w in at.text_input}
    assert "history_signoff_by" not in keys and "history_signoff_role" not in keys
    at.radio(key="history_signoff_decision").set_value("approve")
    next(b for b in at.button if b.label == "Sign off").click()
    at.run()
    assert [e.value for e in at.error] == [
        MSG_APPROVE_NEEDS_CONDITIONS.format(audit_id=audit_id, verdict="fail")
    ]
    at.text_area(key="history_signoff_comment").input(
        "Only for the pilot ward, re-audit in 3 months"
    )
    next(b for b in at.button if b.label == "Sign off").click()
    at.run()
    assert not at.exception
    with Registry(str(site.registry)) as registry:
        (entry,) = registry.signoffs(audit_id)
    assert (entry.signer_issuer, entry.signer_subject) == (ISSUER, "cmio")
    assert (entry.signed_by, entry.role, entry.authenticated) == ("Dr A. Chen", "approver", True)
    assert entry.comment.startswith("Only for the pilot ward")


# -- provisional marks -------------------------------------------------------------------


INTERVAL_RULE = """\
id: interval-only
title: Interval rule
version: "1"
rules:
  - id: auroc-strict
    title: AUROC interval above 0.99
    rationale: A test rule that only the full intervals can decide.
    source: This test.
    severity: block
    check: {kind: metric, metric: auroc, min: 0.99, bound_on: interval}
"""


def test_a_verdict_waiting_for_intervals_is_marked_provisional(
    site: ServedSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "start_full", lambda *a, **k: Future())  # never ready
    site.spec("provisional.yaml")  # inputs of its own: no finished job from another test
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_SERVER
    at.session_state["server_spec"] = "provisional.yaml"
    at.run()
    at.session_state["view"] = "Policy"
    at.run()
    at.selectbox(key=policy_editor.CHOICE_KEY).set_value(policy_editor.EDIT).run()
    at.text_area(key=policy_editor.TEXT_KEY).input(INTERVAL_RULE).run()
    assert not at.exception and not _errors(at)
    marks = [unescape(w.value) for w in at.warning if "PROVISIONAL" in w.value]
    from auditor.dashboard.app import PROVISIONAL

    assert marks == [PROVISIONAL.format(rules="AUROC interval above 0.99")]


# -- untrusted text ----------------------------------------------------------------------


def test_names_and_model_card_fields_render_as_plain_text(site: ServedSite) -> None:
    card = {
        "intended_use": "See ![pixel](http://127.0.0.1:9/track.png) and <img src=x>",
        "limitations": "[click here](http://evil.test/login)",
    }
    site.spec("hostile.yaml", name="Audit [win](http://evil.test)", model_card=card)
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_SERVER
    at.session_state["server_spec"] = "hostile.yaml"
    at.run()
    assert not at.exception and not _errors(at)
    shown = [e.value for e in (*at.title, *at.markdown, *at.caption)]
    assert any("pixel" in text for text in shown)
    hostile = [t for t in shown if any(w in t for w in ("pixel", "click here", "win"))]
    assert len(hostile) >= 3
    for text in hostile:  # every bracket and angle escaped: no link, image or tag
        assert not re.search(r"(?<!\\)[\[\]<>]", text), text
        assert "http://" not in text, text
    assert unescape(at.title[0].value) == "Audit [win](http://evil.test)"


# -- exports are the audit of record -----------------------------------------------------


def test_export_from_interactive_mode_carries_the_full_intervals(site: ServedSite) -> None:
    site.spec("export.yaml", name="Export check")
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_SERVER
    at.session_state["server_spec"] = "export.yaml"
    at.run()
    at.session_state["view"] = "Export"
    at.run()
    assert not at.exception and not _errors(at)
    next(b for b in at.button if b.label == "Prepare the files").click().run()
    files = at.session_state["export_files"]["files"]
    from reports.model import Report

    report = Report.from_json(files["report.json"].decode("utf-8"))
    assert report.provenance.bootstrap_replicates == 20  # never the interactive 0


def test_an_uploaded_policy_judges_but_cannot_extend_server_files(site: ServedSite) -> None:
    at = _served(ALICE)
    at.session_state["source"] = inputs.SOURCE_UPLOAD
    at.run()
    data = (EXAMPLE_DIR / "audit_cohort.csv").read_bytes()
    own = 'id: own\ntitle: Own\nversion: "1"\nextends: clinical-default\nrules: []\n'
    at.sidebar.file_uploader(key="data_upload").set_value(("cohort.csv", data, "text/csv"))
    at.sidebar.file_uploader(key="policy_upload").set_value(("own.yaml", own.encode(), "text/x"))
    model = (EXAMPLE_DIR / "model.skops").read_bytes()
    at.sidebar.file_uploader(key="model_upload").set_value(("model.skops", model, "app/x"))
    at.run()
    at.sidebar.selectbox(key="up_label").set_value("hospitalized")
    at.sidebar.multiselect(key="up_sensitive").set_value(["race", "sex"])
    at.run()
    assert not at.exception and not _errors(at)
    assert any("policy own ·" in c.value for c in at.caption)
    sneaky = f'id: own\ntitle: Own\nversion: "1"\nextends: {site.secret}\nrules: []\n'
    at.sidebar.file_uploader(key="policy_upload").set_value(("own.yaml", sneaky.encode(), "text/x"))
    at.run()
    shown = _errors(at)
    assert len(shown) == 1 and shown[0].endswith(POLICY_NOT_ALLOWED.format(ref=site.secret))
    _no_secret(at)
