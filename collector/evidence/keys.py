"""The collector's Ed25519 key that signs evidence bundles, kept in a file beside the database.

Made at the first start and never again: losing it means bundles signed before can only be
checked against the public key published then (`GET /api/v1/evidence-key`), so it is created
atomically (a temporary file, fsync'd, then hard-linked to its name, which fails if another
process got there first: then that one's key is used) and readable by its owner only (0600).
A key file that cannot be read or is not an Ed25519 private key is an error naming the file,
never silently replaced.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_SUFFIX = ".evidence-key"
ALGORITHM = "Ed25519"


class EvidenceKeyError(Exception):
    """The key file cannot be made or read; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key as bundles and `GET /api/v1/evidence-key` name it."""

    raw: bytes
    """The 32 bytes of the key (RFC 8032)."""

    @property
    def base64(self) -> str:
        return base64.b64encode(self.raw).decode()

    @property
    def key_id(self) -> str:
        """The first 16 hex digits of the SHA-256 of the raw key: a short name to compare."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    @property
    def pem(self) -> str:
        key = Ed25519PublicKey.from_public_bytes(self.raw)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def to_json(self) -> dict[str, str]:
        return {
            "algorithm": ALGORITHM,
            "key_id": self.key_id,
            "public_key": self.base64,
            "public_key_pem": self.pem,
        }


def parse_public_key(text: str) -> PublicKey:
    """A public key written as PEM (SubjectPublicKeyInfo) or as the base64 of its 32 raw bytes;
    ValueError saying what is wrong."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as error:
            raise ValueError(f"not a PEM public key: {error}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return PublicKey(raw)
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, this one {len(raw)}")
    return PublicKey(raw)


class SigningKey:
    """The private key and what it signs with."""

    def __init__(self, private: Ed25519PrivateKey, path: Path | None = None) -> None:
        self._private = private
        self.path = path
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public = PublicKey(raw)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def key_path(database: Path) -> Path:
    """Where the key of the SQLite database `database` is kept: beside it."""
    return database.with_name(database.name + KEY_SUFFIX)


def load_or_create(path: Path) -> SigningKey:
    """The key in `path`, made there first if there is none. EvidenceKeyError naming the file
    when it cannot be read, written, or is not an Ed25519 private key."""
    if not path.exists():
        _create(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise EvidenceKeyError(
            f"cannot read the evidence signing key {path}: {error.strerror}"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise EvidenceKeyError(
            f"{path} is not a PEM private key ({error}); restore it from a backup, or move it "
            "away to make a new key (bundles signed with the old one then need its public key)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceKeyError(f"{path} is not an Ed25519 private key")
    return SigningKey(key, path)


def _create(path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, SigningKey.generate().pem())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return  # another process made it first: its key is the one
        _fsync_folder(path.parent)
    except OSError as error:
        raise EvidenceKeyError(
            f"cannot create the evidence signing key {path}: {error.strerror}"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
