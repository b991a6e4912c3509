"""SHA-256 of input files and folders, for provenance and for pinned models.

A folder (an MLflow model) has no single byte stream, so its hash is defined
over its files: for every regular file, in sorted order of its POSIX path
relative to the folder, the line ``<relative path>\\0<sha256 of content>\\n`` is
fed to one SHA-256. The result does not depend on the file system's listing
order, timestamps or the folder's own location, so a user can pin it once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_tree(folder: Path) -> str:
    files = sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for relative, path in files:
        digest.update(relative.encode("utf-8") + b"\0" + _sha256_file(path).encode() + b"\n")
    return digest.hexdigest()


def sha256_path(path: str | Path) -> str:
    """Hex SHA-256 of a file, or the stable tree hash of a folder (see module docstring).

    Raises ``FileNotFoundError`` when ``path`` does not exist; callers turn that
    into the error type of their stage.
    """
    path = Path(path)
    if path.is_dir():
        return _sha256_tree(path)
    if not path.exists():
        raise FileNotFoundError(path)
    return _sha256_file(path)
