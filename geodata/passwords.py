"""Password hashing with argon2id (argon2-cffi), and a dummy check that costs the same for unknown accounts."""
from __future__ import annotations

import functools
import logging
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

log = logging.getLogger(__name__)

MIN_LENGTH = 8
MAX_LENGTH = 1024

# argon2-cffi's defaults (RFC 9106's second recommendation): 3 passes over 64 MiB in 4 lanes.
DEFAULTS = {"PASSWORD_ARGON2_TIME_COST": 3, "PASSWORD_ARGON2_MEMORY_KIB": 65536, "PASSWORD_ARGON2_PARALLELISM": 4}


@functools.cache
def _hasher_with(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def _hasher() -> PasswordHasher:
    """The hasher of the configured cost (read on each call, so a test run can choose a cheaper one)."""
    cost = [int(os.environ.get(name) or default) for name, default in DEFAULTS.items()]
    return _hasher_with(*cost)


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string, salt and parameters included) of a password."""
    return _hasher().hash(password)


def verify(stored_hash: str, password: str) -> bool:
    """Whether the password matches; a malformed stored hash counts as no match, never as an error."""
    try:
        return _hasher().verify(stored_hash, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        log.warning("a stored password hash could not be read; the account cannot sign in until reset")
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether a hash was made with other parameters than today's, so it is replaced at the next sign-in."""
    try:
        return _hasher().check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return False


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("not the password of anybody")


def burn_time(password: str) -> None:
    """Spend one verification on nothing, so an unknown username answers as slowly as a wrong password."""
    verify(_dummy_hash(_hasher()), password)


def problem(password: str) -> str | None:
    """What is wrong with a new password, for people; None when it may be used."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if not password.strip():
        return "must not be only spaces"
    return None
