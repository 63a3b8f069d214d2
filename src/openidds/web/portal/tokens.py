"""Secrets of the portal: invitation codes and link tokens, calendar feed tokens.

Only hashes are stored. Codes are short (typed by a person), so they are hashed with an
HMAC keyed by ``SECRET_KEY``: a copy of the database alone does not let anyone try
codes offline. Tokens are 32 random bytes; SHA-256 of them is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings

#: No 0/O, 1/I/L: a code read out on the phone or typed from paper is not misread.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def format_code(code: str) -> str:
    """``ABCDEFGHJKMN`` → ``ABCD-EFGH-JKMN`` for reading."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_code(typed: str) -> str:
    """What a person typed → the code: case, spaces and dashes do not matter."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def hash_code(code: str) -> str:
    key = f"openidds.portal.invitation-code:{settings.SECRET_KEY}".encode()
    return hmac.new(key, normalise_code(code).encode(), hashlib.sha256).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
