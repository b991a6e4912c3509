"""Writing a report folder safely: all or nothing, never over the user's files.

Reports are rendered into a temporary sibling folder and moved into place in
one rename, so an interrupted run leaves either the old folder or the new one,
never a half-written report.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from auditor.errors import OutputError

OUT_NOT_EMPTY = (
    "{out}: the output folder exists and is not empty; choose another --out or pass --force "
    "to replace it"
)
OUT_HOLDS_INPUT = (
    "{out}: the output folder contains an input of this audit ({name}); choose an empty "
    "folder for the reports so no input is ever overwritten"
)
OUT_IS_FILE = "{out}: exists and is a file; --out must name a folder"
OUT_HOLDS_OTHER_FILES = (
    "{out}: --force replaces only a folder of audit reports, but this one also holds "
    "{names}; choose another --out (nothing was changed)"
)


def report_file_names() -> frozenset[str]:
    """Every file a render can write: what --force may replace."""
    from auditor.signing import SIGNATURE_SUFFIX
    from reports.render import FILE_NAMES

    names = {name for names in FILE_NAMES.values() for name in names}
    return frozenset(names | {"report.json" + SIGNATURE_SUFFIX})


def check_output_dir(out: Path, *, force: bool, inputs: Iterable[Path] = ()) -> None:
    """Refuse to write where it would overwrite something the user gave."""
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise OutputError(OUT_IS_FILE.format(out=out))
    for item in inputs:
        resolved = Path(item).resolve()
        if resolved == out or out in resolved.parents:
            raise OutputError(OUT_HOLDS_INPUT.format(out=out, name=resolved.name))
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not force:
        raise OutputError(OUT_NOT_EMPTY.format(out=out))
    others = sorted(p.name for p in out.iterdir() if p.name not in report_file_names())
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise OutputError(OUT_HOLDS_OTHER_FILES.format(out=out, names=shown))


@contextlib.contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A temporary folder next to ``out`` (same file system, so the final move is atomic)."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a report folder is not
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def publish(tmp: Path, out: Path) -> None:
    """Move a finished folder into place, replacing an old report folder only at the end."""
    out = out.resolve()
    backup: Path | None = None
    if out.exists():
        backup = out.parent / f".{out.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
        out.rename(backup)
    try:
        tmp.rename(out)
    except OSError:
        if backup is not None:
            backup.rename(out)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def write_atomically(out: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_dir)`` and publish the folder only if it returns normally."""
    with staging_dir(out) as tmp:
        write(tmp)
        publish(tmp, out)
