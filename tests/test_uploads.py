"""Per-session upload folders: private, quota-bound, never following a planted link."""

from __future__ import annotations

import gc
import stat
from pathlib import Path

import pytest

from auditor.dashboard import uploads
from auditor.errors import AuditInputError
from auditor.server_config import UploadLimits


def _limits(tmp_path: Path, **kw: object) -> UploadLimits:
    return UploadLimits(folder=tmp_path, **kw)  # type: ignore[arg-type]


def test_a_session_folder_is_private_and_files_are_owner_only(tmp_path: Path) -> None:
    held = uploads.SessionUploads(_limits(tmp_path))
    path = held.store("data_upload", "../../etc/cohort.csv", b"a,b\n1,2\n")
    assert path.parent.parent == held.folder and path.name == "cohort.csv"
    assert stat.S_IMODE(held.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert held.store("data_upload", "../../etc/cohort.csv", b"a,b\n1,2\n") == path  # rerun
    other = held.store("data_upload", "cohort.csv", b"a,b\n3,4\n")  # replaced, old one gone
    assert not path.exists() and other.exists()


def test_a_planted_link_is_never_written_through(tmp_path: Path) -> None:
    held = uploads.SessionUploads(_limits(tmp_path))
    content = b"x\n"
    target = tmp_path / "victim.txt"
    target.write_text("keep")
    from auditor.load.hashing import sha256_bytes

    sub = held.folder / sha256_bytes(content)[:16]
    sub.mkdir()
    (sub / "data.csv").symlink_to(target)
    with pytest.raises(OSError):
        held.store("k", "data.csv", content)
    assert target.read_text() == "keep"


def test_quotas_refuse_with_a_message(tmp_path: Path) -> None:
    held = uploads.SessionUploads(
        _limits(tmp_path, max_files=2, max_session_mb=0.001, max_file_mb=0.0008, max_rows=3)
    )
    with pytest.raises(AuditInputError) as err:
        held.store("a", "big.csv", b"x" * 900)
    assert str(err.value) == uploads.UPLOAD_TOO_LARGE.format(
        name="big.csv", size=900 / uploads.MB, limit=0.0008
    )
    held.store("a", "a.csv", b"x" * 600)
    with pytest.raises(AuditInputError) as err:
        held.store("b", "b.csv", b"y" * 600)
    assert str(err.value) == uploads.SESSION_FULL.format(
        name="b.csv", size=1200 / uploads.MB, limit=0.001
    )
    held.store("b", "b.csv", b"y" * 10)
    with pytest.raises(AuditInputError) as err:
        held.store("c", "c.csv", b"z")
    assert str(err.value) == uploads.TOO_MANY_FILES.format(name="c.csv", count=2)
    held.discard("a")
    with pytest.raises(AuditInputError) as err:
        held.store("c", "rows.csv", b"h\n1\n2\n3\n4\n", rows=True)
    assert str(err.value) == uploads.TOO_MANY_ROWS.format(name="rows.csv", rows=4, limit=3)


def test_the_folder_goes_with_the_session(tmp_path: Path) -> None:
    held = uploads.SessionUploads(_limits(tmp_path))
    held.store("k", "d.csv", b"1\n")
    folder = held.folder
    del held
    gc.collect()
    assert not folder.exists()


def test_a_session_the_runtime_forgot_is_swept_after_its_grace(tmp_path: Path) -> None:
    held = uploads.SessionUploads(_limits(tmp_path))
    uploads.register("gone", held)
    uploads.sweep(lambda sid: False, grace_seconds=3600)
    assert held.folder.exists()  # still within the reconnect window
    uploads.sweep(lambda sid: True, grace_seconds=0)
    assert held.folder.exists()  # the runtime still knows it
    uploads.sweep(lambda sid: False, grace_seconds=0)
    assert not held.folder.exists()


def test_start_up_removes_folders_of_ended_processes_only(tmp_path: Path) -> None:
    dead = tmp_path / f"{uploads.SESSION_PREFIX}999999999-a"
    dead.mkdir()
    alive = tmp_path / f"{uploads.SESSION_PREFIX}1-b"  # PID 1 runs
    alive.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / f"{uploads.SESSION_PREFIX}999999998-c"
    link.symlink_to(elsewhere)
    removed = uploads.remove_stale(tmp_path)
    assert removed == [dead]
    assert alive.exists() and elsewhere.exists() and link.is_symlink()


def test_rows_are_counted_without_loading(tmp_path: Path) -> None:
    assert uploads.count_rows("a.csv", b"h\n1\n2") == 2
    assert uploads.count_rows("a.csv", b"h\n1\n2\n") == 2
    assert uploads.count_rows("a.csv", b"") == 0
    import pandas as pd

    frame = pd.DataFrame({"x": range(7)})
    frame.to_parquet(tmp_path / "f.parquet")
    assert uploads.count_rows("f.parquet", (tmp_path / "f.parquet").read_bytes()) == 7
