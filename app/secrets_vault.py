"""Credentials tokens at rest: encrypted (the spec makes us hand them back, so no hashing only, digest A-20)
plus a keyed fingerprint so an incoming token is found by an index lookup without decrypting anything."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class VaultError(Exception):
    pass


class TokenVault:
    __slots__ = ("_fernet", "_mac_key")

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise VaultError("the secret key must be 32 url-safe base64-encoded bytes (Fernet.generate_key())") from exc
        # A separate key for fingerprints, derived so one secret configures both.
        self._mac_key = hashlib.sha256(b"ocpi-engine token fingerprint\0" + key).digest()

    @classmethod
    def load(cls, secret_key: str | None, key_file: Path) -> "TokenVault":
        """The configured key, else the key file, created (mode 0600) on first use."""
        if secret_key:
            return cls(secret_key.encode())
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
        return cls(key_file.read_bytes().strip())

    def encrypt(self, token: str) -> bytes:
        return self._fernet.encrypt(token.encode())

    def decrypt(self, blob: bytes) -> str:
        try:
            return self._fernet.decrypt(blob).decode()
        except InvalidToken as exc:
            raise VaultError("a stored token cannot be decrypted with this secret key (was the key changed?)") from exc

    def fingerprint(self, token: str) -> bytes:
        return hmac.new(self._mac_key, token.encode(), hashlib.sha256).digest()


def new_token() -> str:
    """A credentials token: 43 printable characters, 256 random bits; never starting with "-", which
    command lines would take for an option."""
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token
