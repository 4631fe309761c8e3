"""Ed25519 keys and signatures of record digests (the optional extra ``anndata-provenance[sign]``).

A record's ``digest`` covers every other field of it (and, through ``previous``, the chain up
to it), so signing the digest string signs the record. Files on disk:

- the private key: PEM, PKCS#8, unencrypted (a pipeline signs without a passphrase), written
  with mode ``0600``: keep it like an SSH private key;
- the public key beside it, ``<private>.pub``: PEM (SubjectPublicKeyInfo), the form to hand
  to whoever verifies. An OpenSSH one-line public key (``ssh-ed25519 AAAA...``) is read too.

A key id is ``"ed25519:"`` and the first 16 hex digits of the sha256 of the raw 32-byte
public key. ``cryptography`` is imported only by the functions that need it: reading or
auditing a file with signed records without a trust policy needs nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "ALGORITHM",
    "SIGNING_KEY_ENV",
    "KeyPair",
    "Signer",
    "key_id",
    "keygen",
    "load_public_key",
    "load_public_keys",
    "load_signer",
    "public_path",
    "signer_from_env",
    "verify",
]

ALGORITHM = "ed25519"
"""The one signature algorithm."""
SIGNING_KEY_ENV = "PROVENANCE_SIGNING_KEY"
"""Environment variable: path of the private key ``record()`` signs with when not given one."""
EXTRA = "anndata-provenance[sign]"


def _crypto() -> Any:
    """The ``ed25519`` and ``serialization`` modules of ``cryptography``, or a clear error."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        msg = (
            "signing and checking signatures of records needs the optional package "
            f"'cryptography': pip install '{EXTRA}'. Reading and auditing files with signed "
            "records (without --trusted-key / trusted_keys) works without it."
        )
        raise ProvenanceError(msg) from None
    return ed25519, serialization


def key_id(public_key: Ed25519PublicKey) -> str:
    """The id of a public key: ``"ed25519:"`` + first 16 hex digits of sha256(raw key)."""
    _, serialization = _crypto()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{ALGORITHM}:{hashlib.sha256(raw).hexdigest()[:16]}"


@dataclass(frozen=True)
class KeyPair:
    """What :func:`keygen` wrote: the two files and the key id."""

    private: Path
    public: Path
    key_id: str


def public_path(private: str | os.PathLike[str]) -> Path:
    """Where the public key of the private key file ``private`` goes: ``<private>.pub``."""
    p = Path(private)
    return p.with_name(p.name + ".pub")


def keygen(out: str | os.PathLike[str], *, force: bool = False) -> KeyPair:
    """Write a new Ed25519 key pair: the private key at ``out`` (mode 0600), the public key
    at ``<out>.pub``.

    Raises :class:`ProvenanceError` when either file exists (unless ``force``), or when
    ``cryptography`` is not installed.
    """
    ed25519, serialization = _crypto()
    private, public = Path(out), public_path(out)
    if not force:
        for p in (private, public):
            if p.exists():
                msg = (
                    f"{p} exists; not overwriting a key (records signed with it could no longer "
                    "be checked against a new one). Choose another --out, or pass --force."
                )
                raise ProvenanceError(msg)
    if not private.parent.is_dir():
        msg = f"cannot write {private}: directory {private.parent} does not exist."
        raise ProvenanceError(msg)
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Created 0600 (not chmod-ed after writing): the key is never readable by others.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if force else os.O_EXCL)
    fd = os.open(private, flags, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(private, 0o600)  # --force over an existing, more open file
    public.write_bytes(pub)
    return KeyPair(private=private, public=public, key_id=key_id(key.public_key()))


def _read(path: str | os.PathLike[str], what: str, hint: str) -> bytes:
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        msg = f"{what} {p} does not exist; {hint}"
        raise ProvenanceError(msg) from None
    except OSError as e:
        msg = f"cannot read {what} {p}: {e.strerror or e}; {hint}"
        raise ProvenanceError(msg) from None


@dataclass(frozen=True)
class Signer:
    """A private key loaded for signing: signs digests, says its key id."""

    path: Path
    key_id: str
    _key: Ed25519PrivateKey

    def sign(self, digest: str) -> str:
        """Base64 of the Ed25519 signature of ``digest`` (its UTF-8 bytes)."""
        return base64.b64encode(self._key.sign(digest.encode("utf-8"))).decode("ascii")

    def public_key(self) -> Ed25519PublicKey:
        """The public half of the key (to check this key's own signatures)."""
        return self._key.public_key()


def load_signer(path: str | os.PathLike[str]) -> Signer:
    """The private key file at ``path``, ready to sign.

    Raises :class:`ProvenanceError` naming the path when it is missing, unreadable, not an
    unencrypted PEM Ed25519 private key, or when ``cryptography`` is not installed.
    """
    ed25519, serialization = _crypto()
    hint = "make one with `provenance keygen --out lab.key`, or fix the path."
    data = _read(path, "signing key", hint)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # cryptography: "Password was not given but private key is encrypted"
        msg = (
            f"signing key {path} is encrypted; anndata-provenance signs with unencrypted keys "
            "(protect the file with its permissions, 0600). Make one with `provenance keygen`."
        )
        raise ProvenanceError(msg) from None
    except ValueError:
        msg = f"signing key {path} is not a PEM private key; {hint}"
        raise ProvenanceError(msg) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        msg = f"signing key {path} is a {type(key).__name__}, not an Ed25519 key; {hint}"
        raise ProvenanceError(msg)
    return Signer(path=Path(path), key_id=key_id(key.public_key()), _key=key)


def signer_from_env() -> Signer | None:
    """The signer of ``PROVENANCE_SIGNING_KEY`` (a private key's path), ``None`` when unset."""
    raw = os.environ.get(SIGNING_KEY_ENV, "").strip()
    if not raw:
        return None
    try:
        return load_signer(raw)
    except ProvenanceError as e:
        msg = f"{e} (The path is the environment variable {SIGNING_KEY_ENV}; unset it to not sign.)"
        raise ProvenanceError(msg) from None


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """The Ed25519 public key in the file at ``path`` (PEM, or an OpenSSH one-line key)."""
    ed25519, serialization = _crypto()
    hint = "pass the public key (the .pub file `provenance keygen` wrote beside the private one)."
    data = _read(path, "trusted key", hint)
    if b"PRIVATE KEY" in data:
        msg = (
            f"trusted key {path} is a private key; pass its public key instead (the .pub file "
            "beside it). Never hand the private key to whoever verifies."
        )
        raise ProvenanceError(msg)
    try:
        if data.lstrip().startswith(b"ssh-"):
            key = serialization.load_ssh_public_key(data.strip())
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, binascii.Error, TypeError):
        msg = f"trusted key {path} is not a PEM or OpenSSH public key; {hint}"
        raise ProvenanceError(msg) from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        msg = f"trusted key {path} is a {type(key).__name__}, not an Ed25519 key; {hint}"
        raise ProvenanceError(msg)
    return key  # type: ignore[no-any-return]


def load_public_keys(paths: Iterable[str | os.PathLike[str]]) -> dict[str, Ed25519PublicKey]:
    """The trusted public keys by key id."""
    return {key_id(k): k for k in map(load_public_key, paths)}


def verify(value: str, digest: str, public_key: Ed25519PublicKey) -> bool:
    """Whether ``value`` (base64) is ``public_key``'s signature of ``digest``."""
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(base64.b64decode(value, validate=True), digest.encode("utf-8"))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
