"""Secrets: argon2 for passwords (low entropy), SHA-256 for API keys (256 random bits, checked per request)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

KEY_PREFIX_LEN = 12  # "sw-" + 9 chars, stored in clear to find the key and to show it


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    if not password_hash:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_api_key() -> str:
    return "sw-" + secrets.token_urlsafe(32)


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def key_prefix(raw_key: str) -> str:
    return raw_key[:KEY_PREFIX_LEN]


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_matches(raw_key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(raw_key), stored_hash)
