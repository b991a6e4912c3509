"""Read an input once, hash exactly those bytes, and hand the same bytes to its loader.

Hashing a file and then letting a loader reopen it leaves a window in which the
file can be swapped: the provenance (or a pinned model hash) would then vouch for
bytes that were never loaded. So every input is read here once, through
:func:`read_regular_file`, which also refuses anything that is not a regular file
(a named pipe would block forever, a device never ends) without blocking on it.

A folder (an MLflow model) has no single byte stream, so its hash is defined over
its files: for every regular file, in sorted order of its POSIX path relative to
the folder, the line ``<relative path>\\0<sha256 of content>\\n`` is fed to one
SHA-256. The result does not depend on the file system's listing order, timestamps
or the folder's own location, so a user can pin it once. A folder holding a
symbolic link or a special file is refused (:class:`UnsafeTreeError`): a link can
point outside the folder, and what it points to can change after hashing.
:func:`copy_tree_hashed` copies the folder into a private one while hashing the
bytes it writes, so the loader reads the copy that was hashed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from auditor.errors import AuditInputError, AuditorError

_CHUNK = 1 << 20

NOT_REGULAR = "{file}: is a {kind}, not a regular file; refusing to read it"
NOT_FOUND = "{file}: not found"
UNREADABLE = "{file}: cannot read it ({reason})"
TOO_LARGE = "{file}: is larger than {limit:,} bytes, the limit set by {setting}"
TREE_LINK = (
    "{file}: the folder contains a symbolic link ({entry}); links can point outside the "
    "folder and change after hashing, so model folders with links are refused: replace it "
    "with the file it points to"
)
TREE_SPECIAL = "{file}: the folder contains {entry}, a {kind}, not a regular file or folder"


class UnsafeTreeError(ValueError):
    """A folder to hash holds a symbolic link or a special file (message names it)."""


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for messages."""
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    return "special file"


def open_regular_file(
    path: str | Path, *, error: type[AuditorError] = AuditInputError, file: str | None = None
) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file, never blocking on a FIFO.

    The file is opened non-blocking and checked with ``fstat`` on the open
    descriptor, so a swap between a check and the open cannot slip a pipe in.
    """
    shown = file or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:
        raise error(NOT_FOUND.format(file=shown)) from exc
    except IsADirectoryError as exc:
        raise error(NOT_REGULAR.format(file=shown, kind="folder")) from exc
    except OSError as exc:
        raise error(UNREADABLE.format(file=shown, reason=exc.strerror or exc)) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise error(NOT_REGULAR.format(file=shown, kind=file_kind(mode)))
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_regular_file(
    path: str | Path,
    *,
    error: type[AuditorError] = AuditInputError,
    file: str | None = None,
    limit: int | None = None,
    setting: str = "",
) -> bytes:
    """All bytes of the regular file ``path`` (at most ``limit``; ``setting`` names the limit)."""
    shown = file or str(path)
    with open_regular_file(path, error=error, file=shown) as handle:
        try:
            data = handle.read() if limit is None else handle.read(limit + 1)
        except OSError as exc:
            raise error(UNREADABLE.format(file=shown, reason=exc.strerror or exc)) from exc
    if limit is not None and len(data) > limit:
        raise error(TOO_LARGE.format(file=shown, limit=limit, setting=setting))
    return data


def _tree_files(folder: Path, shown: str) -> Iterator[tuple[str, Path]]:
    """``(relative POSIX path, path)`` of every regular file; refuses links and special files."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(root) / name
            mode = os.lstat(path).st_mode
            relative = path.relative_to(folder).as_posix()
            if stat.S_ISLNK(mode):
                raise UnsafeTreeError(TREE_LINK.format(file=shown, entry=relative))
            if stat.S_ISREG(mode):
                yield relative, path
            elif not stat.S_ISDIR(mode):
                raise UnsafeTreeError(
                    TREE_SPECIAL.format(file=shown, entry=relative, kind=file_kind(mode))
                )


def _tree_line(relative: str, content_sha256: str) -> bytes:
    return relative.encode("utf-8") + b"\0" + content_sha256.encode() + b"\n"


def copy_tree_hashed(folder: Path, target: Path, *, file: str | None = None) -> str:
    """Copy ``folder`` into the empty folder ``target`` and return the tree hash of the copy.

    Each file is read once; the bytes written to the copy are the bytes hashed.
    Raises :class:`UnsafeTreeError` for a symbolic link or special file.
    """
    shown = file or str(folder)
    digest = hashlib.sha256()
    for relative, path in sorted(_tree_files(folder, shown)):
        data = read_regular_file(path, file=f"{shown}/{relative}")
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
        digest.update(_tree_line(relative, sha256_bytes(data)))
    return digest.hexdigest()


def sha256_path(path: str | Path) -> str:
    """Hex SHA-256 of a file, or the stable tree hash of a folder (see module docstring).

    For a record of what was loaded, use the hash of the bytes the loader got
    (:func:`read_regular_file`, :func:`copy_tree_hashed`), not this second read.
    Raises ``FileNotFoundError`` when ``path`` does not exist and
    :class:`UnsafeTreeError` for a folder with a link or special file.
    """
    path = Path(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for relative, member in sorted(_tree_files(path, str(path))):
            digest.update(_tree_line(relative, sha256_bytes(read_regular_file(member))))
        return digest.hexdigest()
    if not path.exists():
        raise FileNotFoundError(path)
    return sha256_bytes(read_regular_file(path))
