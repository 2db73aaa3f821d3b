"""Password hashing with argon2id (argon2-cffi), and a dummy check that costs the same for unknown accounts."""
from __future__ import annotations

import functools
import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

log = logging.getLogger(__name__)

MIN_LENGTH = 8
MAX_LENGTH = 1024

# argon2-cffi's defaults (RFC 9106's second recommendation, 64 MiB, 3 passes): about 50 ms per check here.
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string, salt included) of a password."""
    return _hasher.hash(password)


def verify(stored_hash: str, password: str) -> bool:
    """Whether the password matches; a malformed stored hash counts as no match, never as an error."""
    try:
        return _hasher.verify(stored_hash, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        log.warning("a stored password hash could not be read; the account cannot sign in until reset")
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether a hash was made with weaker parameters than today's, so it is replaced at the next sign-in."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not the password of anybody")


def burn_time(password: str) -> None:
    """Spend one verification on nothing, so an unknown username answers as slowly as a wrong password."""
    verify(_dummy_hash(), password)


def problem(password: str) -> str | None:
    """What is wrong with a new password, for people; None when it may be used."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if not password.strip():
        return "must not be only spaces"
    return None
