"""Uploaded files, kept where no one else can reach them and for no longer than the session.

Each browser session gets its own folder made by ``tempfile.mkdtemp`` (owner
only, an unpredictable name, never reused); files are created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` so a link planted in advance is never
followed. The folder is removed when the session ends (a reaper thread sees the
runtime no longer knows the session after its reconnect window, or its holder in
``st.session_state`` is collected), and folders left by a server process that
no longer runs are removed at start-up. Quotas (file size, session total, file
count, dataset rows) come from the server configuration; a refused upload is
deleted at once.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import AuditInputError
from auditor.load.hashing import sha256_bytes
from auditor.server_config import UploadLimits

SESSION_PREFIX = "auditor-session-"
MB = 1024 * 1024

UPLOAD_TOO_LARGE = (
    "{name}: {size:.1f} MB is more than the {limit:g} MB this server accepts per file"
)
SESSION_FULL = (
    "{name}: this session's uploads would reach {size:.1f} MB, more than the {limit:g} MB "
    "this server allows per session; remove an upload first"
)
TOO_MANY_FILES = "{name}: this session already holds {count} uploads, the most this server allows"
TOO_MANY_ROWS = "{name}: {rows:,} rows is more than the {limit:,} this server accepts per dataset"

_LOCK = threading.Lock()
_LIVE: weakref.WeakValueDictionary[str, SessionUploads] = weakref.WeakValueDictionary()
"""This process's session folders by session id (swept when their session is gone; held
weakly, so a session's end alone removes its folder)."""


@dataclass
class SessionUploads:
    """One session's private upload folder and what it holds."""

    limits: UploadLimits
    session_id: str = ""
    folder: Path = field(init=False)
    files: dict[str, tuple[str, Path, int]] = field(default_factory=dict, init=False)
    """Widget key -> (content SHA-256, path, size)."""
    last_seen: float = field(default_factory=time.monotonic, init=False)

    def __post_init__(self) -> None:
        base = self.limits.folder if self.limits.folder is not None else None
        self.folder = Path(tempfile.mkdtemp(prefix=f"{SESSION_PREFIX}{os.getpid()}-", dir=base))
        os.chmod(self.folder, 0o700)
        weakref.finalize(self, shutil.rmtree, str(self.folder), True)

    @property
    def used(self) -> int:
        return sum(size for _, _, size in self.files.values())

    def store(self, key: str, name: str, content: bytes, *, rows: bool = False) -> Path:
        """Keep ``content`` for widget ``key`` (replacing its previous file), within the quotas."""
        self.last_seen = time.monotonic()
        digest = sha256_bytes(content)
        current = self.files.get(key)
        if current is not None and current[0] == digest and current[1].name == _safe(name):
            return current[1]
        self.discard(key)
        size = len(content)
        limit = self.limits
        if size > limit.max_file_mb * MB:
            raise AuditInputError(
                UPLOAD_TOO_LARGE.format(name=name, size=size / MB, limit=limit.max_file_mb)
            )
        if self.used + size > limit.max_session_mb * MB:
            raise AuditInputError(
                SESSION_FULL.format(
                    name=name, size=(self.used + size) / MB, limit=limit.max_session_mb
                )
            )
        if len(self.files) >= limit.max_files:
            raise AuditInputError(TOO_MANY_FILES.format(name=name, count=len(self.files)))
        if rows:
            n = count_rows(name, content)
            if n > limit.max_rows:
                raise AuditInputError(TOO_MANY_ROWS.format(name=name, rows=n, limit=limit.max_rows))
        self.folder.mkdir(mode=0o700, exist_ok=True)  # recreated if swept while idle
        sub = self.folder / digest[:16]
        with contextlib.suppress(FileExistsError):
            os.mkdir(sub, 0o700)
        path = sub / _safe(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        self.files[key] = (digest, path, size)
        return path

    def discard(self, key: str) -> None:
        """Delete the file kept for ``key`` (a refused or replaced upload)."""
        entry = self.files.pop(key, None)
        if entry is None:
            return
        with contextlib.suppress(OSError):
            entry[1].unlink()
        with contextlib.suppress(OSError):
            entry[1].parent.rmdir()

    def close(self) -> None:
        self.files.clear()
        shutil.rmtree(self.folder, ignore_errors=True)

    def hide(self, message: str) -> str:
        """A loader's message without this session's folder (names only, no server paths)."""
        text = message
        for _, path, _ in self.files.values():
            text = text.replace(str(path.parent) + os.sep, "")
        return text.replace(str(self.folder) + os.sep, "").replace(str(self.folder), "uploads")


def _safe(name: str) -> str:
    base = Path(name.replace("\\", "/")).name.strip()
    cleaned = "".join(c if c.isalnum() or c in "._- " else "_" for c in base).lstrip(".")
    return cleaned[:120] or "upload"


def count_rows(name: str, content: bytes) -> int:
    """Rows of an uploaded dataset without loading it (Parquet metadata, CSV line count)."""
    if name.lower().endswith(".parquet"):
        try:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(io.BytesIO(content)).metadata.num_rows)
        except Exception:  # not Parquet after all: the loader will say so
            return 0
    lines = content.count(b"\n")
    return max(lines - 1, 0) + (0 if content.endswith(b"\n") or not content else 1)


def register(session_id: str, uploads: SessionUploads) -> None:
    with _LOCK:
        _LIVE[session_id] = uploads


def sweep(is_active: object | None = None, *, grace_seconds: float = 120.0) -> None:
    """Remove folders of sessions the runtime no longer knows (after a reconnect grace)."""
    check = is_active if callable(is_active) else None
    if check is None:
        return
    now = time.monotonic()
    with _LOCK:
        for sid, uploads in list(_LIVE.items()):
            if not check(sid) and now - uploads.last_seen > grace_seconds:
                uploads.close()
                del _LIVE[sid]


REAP_EVERY_SECONDS = 5.0


def start_reaper(is_active: Any, *, grace_seconds: float) -> threading.Thread:
    """A daemon thread that removes the folders of ended sessions, whether or not anyone
    is using the page (a browser that closes runs no more script to clean up after it).

    ``is_active`` is the runtime's thread-safe ``is_active_session``; a session
    gone for longer than ``grace_seconds`` (Streamlit's reconnect window) is over.
    """

    def reap() -> None:
        while True:
            time.sleep(REAP_EVERY_SECONDS)
            try:
                sweep(is_active, grace_seconds=grace_seconds)
            except Exception as exc:  # keep reaping; say why once per failure
                print(f"auditor: upload cleanup failed: {exc!r}", file=sys.stderr)

    thread = threading.Thread(target=reap, name="auditor-upload-reaper", daemon=True)
    thread.start()
    return thread


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(base: Path | None = None) -> list[Path]:
    """At start-up: delete session folders left by server processes that no longer run.

    Only real folders (never a link) owned by this user and named as this module
    names them; folders of running processes (this one included) are left alone.
    """
    root = Path(base) if base is not None else Path(tempfile.gettempdir())
    removed = []
    for entry in root.glob(SESSION_PREFIX + "*"):
        try:
            info = entry.lstat()
        except OSError:
            continue
        pid_text = entry.name[len(SESSION_PREFIX) :].split("-", 1)[0]
        if (
            not stat.S_ISDIR(info.st_mode)
            or info.st_uid != os.getuid()
            or not pid_text.isdigit()
            or int(pid_text) == os.getpid()
            or _pid_alive(int(pid_text))
        ):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed
