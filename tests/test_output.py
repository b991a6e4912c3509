"""Report folders are written all or nothing, and never over the user's inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditor.errors import OutputError
from auditor.output import check_output_dir, write_atomically


def _write(files: dict[str, str]):  # type: ignore[no-untyped-def]
    def write(folder: Path) -> None:
        for name, text in files.items():
            (folder / name).write_text(text)

    return write


def test_new_folder_is_published(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    write_atomically(out, _write({"report.json": "{}"}))
    assert [p.name for p in out.iterdir()] == ["report.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]


def test_failed_write_keeps_the_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    write_atomically(out, _write({"report.json": "old"}))

    def crash(folder: Path) -> None:
        (folder / "report.json").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(out, crash)
    assert (out / "report.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]


def test_replacement_swaps_the_whole_folder(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    write_atomically(out, _write({"a.txt": "1", "b.txt": "2"}))
    write_atomically(out, _write({"a.txt": "3"}))
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "3"}


def test_non_empty_folder_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    check_output_dir(out, force=False)  # empty is fine
    (out / "x").write_text("x")
    with pytest.raises(OutputError) as err:
        check_output_dir(out, force=False)
    assert str(err.value) == (
        f"{out}: the output folder exists and is not empty; choose another --out or pass "
        "--force to replace it"
    )
    with pytest.raises(OutputError) as err:
        check_output_dir(out, force=True)
    assert str(err.value) == (
        f"{out}: --force replaces only a folder of audit reports, but this one also holds x; "
        "choose another --out (nothing was changed)"
    )
    (out / "x").unlink()
    (out / "report.json").write_text("{}")
    (out / "junit.xml").write_text("<x/>")
    check_output_dir(out, force=True)  # an earlier audit's reports may be replaced


def test_published_folder_follows_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    old = os.umask(0o022)
    try:
        write_atomically(out, _write({"report.json": "{}"}))
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755


def test_folder_holding_an_input_is_refused_even_with_force(tmp_path: Path) -> None:
    data = tmp_path / "cohort.csv"
    data.write_text("a\n1\n")
    with pytest.raises(OutputError, match=r"contains an input of this audit \(cohort\.csv\)"):
        check_output_dir(tmp_path, force=True, inputs=[data])


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "report"
    target.write_text("x")
    with pytest.raises(OutputError, match="exists and is a file"):
        check_output_dir(target, force=True)
