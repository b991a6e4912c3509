"""Hostile and odd inputs: each ends with exit 2 and one line naming the problem, never a hang.

The table of ``docs/bad-inputs.md`` is built from what these runs print, so the docs
cannot drift from the messages: run with ``AUDITOR_UPDATE_DOCS=1`` to rewrite it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hostile_models import StringScores, ThreeColumns

from auditor import cli
from auditor.load.data import ENV_MAX_DATA_BYTES, ENV_MAX_ROWS
from auditor.load.safe_yaml import MAX_YAML_DEPTH
from auditor.load.spec import MAX_BOOTSTRAP, MAX_SEED
from auditor.schema import spec_schema
from tests.load_helpers import base_spec, make_cohort, write_cohort

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad-inputs.md"
START, END = "<!-- bad-inputs:start -->", "<!-- bad-inputs:end -->"

BOMB = "".join(
    f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" if i else '  l0: &l0 ["lol"]\n'
    for i in range(9)
)


def _spec_text(**overrides: object) -> str:
    return yaml.safe_dump(base_spec(**overrides), sort_keys=False)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _pickle(folder: Path, model: object) -> dict[str, str]:
    content = pickle.dumps(model)
    (folder / "model.pkl").write_bytes(content)
    return {"path": "model.pkl", "sha256": hashlib.sha256(content).hexdigest()}


# Each case prepares files in a folder and returns the command line; ``env`` sets limits.
Case = Callable[[Path], list[str]]


def alias_bomb_in_model_card(d: Path) -> list[str]:
    _write(d, "spec.yaml", _spec_text() + "model_card:\n" + BOMB)
    return ["audit", "spec.yaml"]


def alias_bomb_in_policy(d: Path) -> list[str]:
    _write(d, "policy.yaml", "id: bomb\ntitle: t\nversion: '1'\ndescription:\n" + BOMB)
    _write(d, "spec.yaml", _spec_text(policy="policy.yaml"))
    return ["audit", "spec.yaml"]


def deeply_nested_yaml(d: Path) -> list[str]:
    _write(d, "spec.yaml", _spec_text() + "model_card: " + "[" * 5000 + "]" * 5000 + "\n")
    return ["audit", "spec.yaml"]


def deeply_nested_json(d: Path) -> list[str]:
    _write(d, "spec.json", '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return ["audit", "spec.json"]


def bootstrap_too_large(d: Path) -> list[str]:
    _write(d, "spec.yaml", _spec_text(bootstrap=1_000_000_000_000))
    return ["audit", "spec.yaml"]


def seed_too_large(d: Path) -> list[str]:
    _write(d, "spec.yaml", _spec_text(seed=2**32))
    return ["audit", "spec.yaml"]


def seed_option_too_large(d: Path) -> list[str]:
    _write(d, "spec.yaml", _spec_text())
    return ["audit", "spec.yaml", "--seed", str(2**32)]


def data_is_a_folder(d: Path) -> list[str]:
    (d / "folder.csv").mkdir()
    _write(d, "spec.yaml", _spec_text(data="folder.csv"))
    return ["audit", "spec.yaml"]


def gzip_bomb(d: Path) -> list[str]:
    header = "died,risk,race,sex,age,lactate,unit\n"
    with gzip.open(d / "bomb.csv.gz", "wt") as handle:  # 50 kB -> 20 MB
        handle.write(header + "1,0.5,White,male,50,1.0,icu\n" * 700_000)
    _write(d, "spec.yaml", _spec_text(data="bomb.csv.gz"))
    return ["audit", "spec.yaml"]


def too_many_rows(d: Path) -> list[str]:
    _write(d, "spec.yaml", _spec_text())
    return ["audit", "spec.yaml"]


def too_many_rows_parquet(d: Path) -> list[str]:
    write_cohort(d, make_cohort(300), "cohort.parquet")
    _write(d, "spec.yaml", _spec_text(data="cohort.parquet"))
    return ["audit", "spec.yaml"]


def short_csv_row(d: Path) -> list[str]:
    lines = (d / "cohort.csv").read_text().splitlines()
    lines[7] = ",".join(lines[7].split(",")[:-2])
    _write(d, "short.csv", "\n".join(lines) + "\n")
    _write(d, "spec.yaml", _spec_text(data="short.csv"))
    return ["audit", "spec.yaml"]


def duplicate_column(d: Path) -> list[str]:
    lines = (d / "cohort.csv").read_text().splitlines()
    lines[0] = lines[0].replace("unit", "race")
    _write(d, "dup.csv", "\n".join(lines) + "\n")
    _write(d, "spec.yaml", _spec_text(data="dup.csv"))
    return ["audit", "spec.yaml"]


def _parquet_with(d: Path, column: str, values: list[object]) -> None:
    table = pa.Table.from_pandas(make_cohort(300), preserve_index=False)
    table = table.replace_schema_metadata(None)  # no pandas dtypes to cast back to
    table = table.set_column(table.schema.get_field_index(column), column, pa.array(values))
    pq.write_table(table, d / "nested.parquet")


def nested_label(d: Path) -> list[str]:
    _parquet_with(d, "died", [[i % 2] for i in range(300)])
    _write(d, "spec.yaml", _spec_text(data="nested.parquet"))
    return ["audit", "spec.yaml"]


def nested_sensitive(d: Path) -> list[str]:
    _parquet_with(d, "race", [{"code": "W"} if i > 4 else None for i in range(300)])
    _write(d, "spec.yaml", _spec_text(data="nested.parquet"))
    return ["audit", "spec.yaml"]


def model_returns_strings(d: Path) -> list[str]:
    _write(d, "spec.yaml", _spec_text(model=_pickle(d, StringScores())))
    return ["audit", "spec.yaml"]


def model_returns_three_columns(d: Path) -> list[str]:
    _write(d, "spec.yaml", _spec_text(model=_pickle(d, ThreeColumns())))
    return ["audit", "spec.yaml"]


def model_folder_with_a_link(d: Path) -> list[str]:
    folder = d / "mlflow-model"
    (folder / "code").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: x\n")
    (d / "elsewhere").mkdir()
    (folder / "code" / "lib").symlink_to(d / "elsewhere", target_is_directory=True)
    _write(d, "spec.yaml", _spec_text(model={"path": "mlflow-model", "sha256": "0" * 64}))
    return ["audit", "spec.yaml"]


def baseline_is_a_folder_without_report(d: Path) -> list[str]:
    (d / "old").mkdir()
    (d / "old" / "report.json").mkdir()
    _write(d, "spec.yaml", _spec_text())
    return ["audit", "spec.yaml", "--baseline", "old"]


CASES: dict[str, tuple[Case, dict[str, str]]] = {
    "YAML alias bomb in `model_card`": (alias_bomb_in_model_card, {}),
    "YAML alias bomb in a policy `description`": (alias_bomb_in_policy, {}),
    f"YAML nested deeper than {MAX_YAML_DEPTH} levels": (deeply_nested_yaml, {}),
    "JSON spec nested 100,000 levels deep": (deeply_nested_json, {}),
    "`bootstrap: 1000000000000`": (bootstrap_too_large, {}),
    "`seed: 4294967296` (2^32)": (seed_too_large, {}),
    "`--seed 4294967296`": (seed_option_too_large, {}),
    "data path is a folder": (data_is_a_folder, {}),
    f"`.csv.gz` expanding past `{ENV_MAX_DATA_BYTES}` (here 1,000,000)": (
        gzip_bomb,
        {ENV_MAX_DATA_BYTES: "1000000"},
    ),
    f"CSV with more rows than `{ENV_MAX_ROWS}` (here 100)": (too_many_rows, {ENV_MAX_ROWS: "100"}),
    f"Parquet with more rows than `{ENV_MAX_ROWS}` (here 100)": (
        too_many_rows_parquet,
        {ENV_MAX_ROWS: "100"},
    ),
    f"`{ENV_MAX_ROWS}` that is not a number": (too_many_rows, {ENV_MAX_ROWS: "many"}),
    "CSV row shorter than the header": (short_csv_row, {}),
    "duplicate column names": (duplicate_column, {}),
    "nested (list) values in the label column (Parquet)": (nested_label, {}),
    "nested (struct) values in a sensitive column (Parquet)": (nested_sensitive, {}),
    "model returning text": (model_returns_strings, {}),
    "2-class model returning 3 columns": (model_returns_three_columns, {}),
    "model folder containing a symbolic link": (model_folder_with_a_link, {}),
    "`--baseline` that is not a file": (baseline_is_a_folder_without_report, {}),
}


def _run_case(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> tuple[int, str]:
    case, env = CASES[name]
    folder = tmp_path / "case"
    folder.mkdir(parents=True)
    write_cohort(folder, make_cohort(300))
    argv = case(folder)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(folder)
    with pytest.raises(SystemExit) if argv[-2:-1] == ["--seed"] else _nothing() as exited:
        code = cli.main([*argv, "--out", str(tmp_path / "out"), "--formats", "json"])
    if exited is not None:
        code = int(exited.value.code)
    err = capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    return code, err.replace(str(folder), "DIR").strip()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize("name", list(CASES))
def test_each_bad_input_exits_2_with_one_line(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    code, err = _run_case(name, tmp_path, monkeypatch, capsys)
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert len(err.splitlines()) == 1 or err.splitlines()[0].startswith("usage:"), err
    assert err.splitlines()[-1] in _documented(), f"{name}: {err!r} is not in {DOC.name}"


def _documented() -> set[str]:
    table = DOC.read_text().split(START)[1].split(END)[0]
    cells = [line.split(" | ")[-1].rstrip(" |") for line in table.splitlines()[3:]]
    return {c.strip("`").replace("\\|", "|") for c in cells}


def test_the_docs_table_is_what_the_runs_print(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    rows = ["| input | exit | message |", "|---|---|---|"]
    for i, name in enumerate(CASES):
        with monkeypatch.context() as m:
            code, err = _run_case(name, tmp_path / str(i), m, capsys)
        message = err.splitlines()[-1].replace("|", "\\|")
        rows.append(f"| {name} | {code} | `{message}` |")
    rows += [f"| {name} | 2 | `{message}` |" for name, message in _fifo_rows(tmp_path)]
    table = "\n".join(rows)
    text = DOC.read_text()
    before, rest = text.split(START)
    _, after = rest.split(END)
    expected = f"{before}{START}\n{table}\n{END}{after}"
    if os.environ.get("AUDITOR_UPDATE_DOCS") == "1":
        DOC.write_text(expected)
    assert text == expected, "docs/bad-inputs.md is stale: rerun with AUDITOR_UPDATE_DOCS=1"


def _fifo_rows(tmp_path: Path) -> list[tuple[str, str]]:
    rows = []
    for what in ("data", "spec", "model", "init"):
        _, err = _fifo_run(tmp_path / f"fifo-{what}", what)
        shown = "`auditor init` data" if what == "init" else what
        rows.append((f"{shown} path is a named pipe (FIFO)", err))
    return rows


def _fifo_run(folder: Path, what: str) -> tuple[int, str]:
    folder.mkdir(parents=True)
    write_cohort(folder, make_cohort(300))
    spec_name = "spec.yaml"
    if what == "data":
        os.mkfifo(folder / "pipe.csv")
        _write(folder, spec_name, _spec_text(data="pipe.csv"))
    elif what == "model":
        os.mkfifo(folder / "model.pkl")
        _write(folder, spec_name, _spec_text(model={"path": "model.pkl", "sha256": "0" * 64}))
    elif what == "init":
        os.mkfifo(folder / "pipe.csv")
    else:
        spec_name = "pipe.yaml"
        os.mkfifo(folder / spec_name)
    argv = ["init", "pipe.csv"] if what == "init" else ["audit", spec_name, "--out", "out"]
    result = subprocess.run(
        [sys.executable, "-m", "auditor", *argv],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,  # a regression would hang on open(); this turns it into a failure
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    err = result.stderr.replace(str(folder), "DIR").strip()
    assert result.returncode == 2, err
    assert len(err.splitlines()) == 1, err
    return result.returncode, err


@pytest.mark.parametrize("what", ["data", "spec", "model", "init"])
def test_a_fifo_is_refused_without_hanging(tmp_path: Path, what: str) -> None:
    _, err = _fifo_run(tmp_path / "run", what)
    assert "is a named pipe (FIFO), not a regular file; refusing to read it" in err


def test_schema_caps_are_the_constants() -> None:
    schema = spec_schema()["properties"]
    assert schema["bootstrap"]["maximum"] == MAX_BOOTSTRAP == 100_000
    assert schema["seed"]["maximum"] == MAX_SEED == np.iinfo(np.uint32).max


def test_output_to_a_closed_pipe_ends_quietly_with_the_usual_status(tmp_path: Path) -> None:
    # `true` exits without reading, so every write meets a closed pipe (as after `head -1`)
    script = f"{sys.executable} -m auditor metrics | true; echo status=${{PIPESTATUS[0]}}"
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.stdout == "status=0\n"
    assert result.stderr == ""


def test_a_closed_pipe_keeps_a_failing_exit_status(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    write_cohort(folder, make_cohort(300))
    _write(folder, "spec.yaml", _spec_text(bootstrap=0))
    from test_cli import policy_file

    policy_file(folder, "block", min=0.99).rename(folder / "strict.yaml")
    script = (
        f"{sys.executable} -m auditor audit spec.yaml --out out --formats json "
        "--policy strict.yaml | true; echo status=${PIPESTATUS[0]}"
    )
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.stdout.strip() == "status=1", result.stderr
    assert "BrokenPipe" not in result.stderr and "internal error" not in result.stderr


def test_frames_are_unchanged_for_plain_inputs(tmp_path: Path) -> None:
    """The single read keeps what pandas made of a CSV before (no behaviour change)."""
    from auditor.load.data import read_data_file

    cohort = make_cohort(50)
    path = write_cohort(tmp_path, cohort)
    frame, digest = read_data_file(path)
    pd.testing.assert_frame_equal(frame, pd.read_csv(path))
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_documented_limits_are_the_constants() -> None:
    from auditor.load import safe_yaml
    from auditor.load.data import DEFAULT_MAX_DATA_BYTES, DEFAULT_MAX_ROWS

    text = DOC.read_text()
    for value in (
        DEFAULT_MAX_DATA_BYTES,
        DEFAULT_MAX_ROWS,
        safe_yaml.MAX_YAML_BYTES,
        safe_yaml.MAX_YAML_ALIASES,
        safe_yaml.MAX_YAML_NODES,
        MAX_BOOTSTRAP,
        MAX_SEED,
    ):
        assert f"{value:,}" in text
    assert f"| {safe_yaml.MAX_YAML_DEPTH} levels |" in text


def test_error_messages_escape_control_characters_from_the_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    write_cohort(tmp_path, make_cohort(50))
    _write(tmp_path, "spec.yaml", _spec_text(sensitive=["race\x1b[2J", "sex"]))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate-spec", "spec.yaml"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "race\\x1b[2J" in err


def test_a_csv_with_a_byte_order_mark_reads_as_before(tmp_path: Path) -> None:
    from auditor.load.data import read_columns, read_data_file

    cohort = make_cohort(30)
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + cohort.to_csv(index=False).encode())
    assert read_columns(path) == list(cohort.columns)
    frame, _ = read_data_file(path)
    pd.testing.assert_frame_equal(frame, cohort)
