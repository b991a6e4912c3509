"""Ed25519 signatures on reports, registry entries and head statements.

Why: a hash proves bytes did not change since the hash was taken, not who took it;
anyone with write access to a report folder or the registry database can recompute
a hash. A signature can only be made with the signer's private key, and trust comes
from public keys the verifier chose (``--trusted-keys`` or ``AUDITOR_TRUSTED_KEYS``),
never from the file being checked: the public key a signature carries is only a
label, the key that verifies is looked up among the trusted ones by its id.

Keys are PEM files (``auditor keygen KEY`` writes ``KEY`` and ``KEY.pub``); a
trusted-keys file may hold several public keys, one PEM block after another, and a
folder of ``*.pub`` / ``*.pem`` files works too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditor.errors import SignatureError
from auditor.load.hashing import read_regular_file

__all__ = [
    "ALGORITHM",
    "ENV_SIGN_KEY",
    "ENV_TRUSTED_KEYS",
    "SIGNATURE_SUFFIX",
    "Signature",
    "TrustedKeys",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_trusted_keys",
    "sign",
    "signature_problem",
]

ALGORITHM = "ed25519"
SIGNATURE_SUFFIX = ".sig"
"""A signed file ``report.json`` has its signature in ``report.json.sig`` beside it."""
ENV_TRUSTED_KEYS = "AUDITOR_TRUSTED_KEYS"
"""Environment variable: file or folder of trusted public keys (PEM)."""
ENV_SIGN_KEY = "AUDITOR_SIGN_KEY"
"""Environment variable: the signer's private key (PEM), when ``--sign-key`` is not given."""

TrustedKeys = Mapping[str, Ed25519PublicKey]
"""Trusted public keys by :func:`key_id`."""

KEY_UNREADABLE = "{file}: not an Ed25519 {kind} key in PEM format ({reason})"
KEY_WRONG_TYPE = "{file}: the {kind} key is {found}, not Ed25519"
NO_TRUSTED_KEYS = "{file}: holds no public key (expected PEM blocks or *.pub / *.pem files)"
KEY_EXISTS = "{file}: already exists; refusing to overwrite a key"
SIGNATURE_MALFORMED = "{file}: not a signature written by auditor ({reason})"
PROBLEM_BAD = "its signature by key {key_id} does not verify: the signed content was changed"
PROBLEM_UNTRUSTED = "it is signed by key {key_id}, which is not one of the trusted keys"
PROBLEM_MALFORMED = "its signature is malformed ({reason})"

_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.S)


@dataclass(frozen=True)
class Signature:
    """An Ed25519 signature, the id of the key that made it, and that key (as a label)."""

    key_id: str
    public_key: str
    """Base64 of the raw 32-byte public key; informative only (trust is by ``key_id``)."""
    value: str
    """Base64 of the 64-byte signature."""
    algorithm: str = ALGORITHM

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "signature") -> Signature:
        if not isinstance(data, dict):
            raise SignatureError(SIGNATURE_MALFORMED.format(file=source, reason="not an object"))
        try:
            signature = cls(
                key_id=str(data["key_id"]),
                public_key=str(data["public_key"]),
                value=str(data["value"]),
                algorithm=str(data.get("algorithm", ALGORITHM)),
            )
        except KeyError as exc:
            raise SignatureError(
                SIGNATURE_MALFORMED.format(file=source, reason=f"no {exc.args[0]!r}")
            ) from exc
        if signature.algorithm != ALGORITHM:
            raise SignatureError(
                SIGNATURE_MALFORMED.format(
                    file=source, reason=f"algorithm {signature.algorithm!r}, expected ed25519"
                )
            )
        return signature

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> Signature:
        """The signature file ``path`` (read once; a FIFO is refused)."""
        content = read_regular_file(path, error=SignatureError)
        try:
            data = json.loads(content.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SignatureError(SIGNATURE_MALFORMED.format(file=path, reason=exc)) from exc
        return cls.from_dict(data, source=str(path))


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key: short enough to read aloud."""
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path`` (unencrypted PKCS#8)."""
    content = read_regular_file(path, error=SignatureError)
    try:
        key = serialization.load_pem_private_key(content, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(KEY_UNREADABLE.format(file=path, kind="private", reason=exc)) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(
            KEY_WRONG_TYPE.format(file=path, kind="private", found=type(key).__name__)
        )
    return key


def _public_keys_in(content: bytes, source: str) -> list[Ed25519PublicKey]:
    keys = []
    for block in _PEM_BLOCK.findall(content):
        try:
            key = serialization.load_pem_public_key(block)
        except ValueError as exc:
            raise SignatureError(
                KEY_UNREADABLE.format(file=source, kind="public", reason=exc)
            ) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise SignatureError(
                KEY_WRONG_TYPE.format(file=source, kind="public", found=type(key).__name__)
            )
        keys.append(key)
    return keys


def load_trusted_keys(path: str | Path | None = None) -> dict[str, Ed25519PublicKey]:
    """Trusted public keys from ``path`` (a PEM file or folder), else ``$AUDITOR_TRUSTED_KEYS``.

    Returns an empty mapping when neither is given: nothing is trusted, and
    callers say so rather than accept any signature.
    """
    given = path or os.environ.get(ENV_TRUSTED_KEYS) or None
    if given is None:
        return {}
    location = Path(given)
    files = (
        sorted(p for p in location.iterdir() if p.suffix in (".pub", ".pem"))
        if location.is_dir()
        else [location]
    )
    keys: list[Ed25519PublicKey] = []
    for file in files:
        keys += _public_keys_in(read_regular_file(file, error=SignatureError), str(file))
    if not keys:
        raise SignatureError(NO_TRUSTED_KEYS.format(file=location))
    return {key_id(k): k for k in keys}


def sign(content: bytes, private_key: Ed25519PrivateKey) -> Signature:
    """Sign ``content`` (the exact bytes a verifier will read)."""
    public = private_key.public_key()
    return Signature(
        key_id=key_id(public),
        public_key=base64.b64encode(_raw(public)).decode("ascii"),
        value=base64.b64encode(private_key.sign(content)).decode("ascii"),
    )


def signature_problem(content: bytes, signature: Signature, trusted: TrustedKeys) -> str | None:
    """Why ``signature`` does not vouch for ``content`` under ``trusted`` keys; None if it does."""
    key = trusted.get(signature.key_id)
    if key is None:
        return PROBLEM_UNTRUSTED.format(key_id=signature.key_id)
    try:
        value = base64.b64decode(signature.value, validate=True)
    except ValueError as exc:
        return PROBLEM_MALFORMED.format(reason=exc)
    try:
        key.verify(value, content)
    except InvalidSignature:
        return PROBLEM_BAD.format(key_id=signature.key_id)
    return None


def generate_key(path: Path) -> tuple[Path, str]:
    """Write a new private key to ``path`` (mode 0600) and its public key to ``path.pub``."""
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists():
            raise SignatureError(KEY_EXISTS.format(file=target))
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return public_path, key_id(key.public_key())
