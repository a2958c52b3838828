"""API keys: `qbt_<key_id>_<secret>`, stored as key_id + sha256(secret), looked up by key_id.

The secret is 32 random bytes, so a plain sha256 is enough (no password stretching needed);
the comparison is constant time. `create_key` prints nothing: the CLI shows the key once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from serve.database import KEYS_CHANNEL
from serve.errors import AuthenticationError

PREFIX = "qbt"
_KEY = re.compile(r"^qbt_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


@dataclass(frozen=True)
class Owner:
    """Who is calling: the key's owner name and whether the key is an admin key."""

    name: str
    admin: bool
    key_id: str


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_key(token: str) -> tuple[str, str]:
    """(key_id, secret) of a well-formed key; AuthenticationError otherwise."""
    match = _KEY.match(token)
    if match is None:
        raise AuthenticationError("The API key is malformed: expected qbt_<key id>_<secret>")
    return match.group(1), match.group(2)


def check_secret(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), bytes(stored_hash))


def create_key(database_url: str, *, owner: str, admin: bool = False) -> str:
    """Create an API key for `owner`; answer the whole key (only its hash is stored)."""
    if not _OWNER.match(owner):
        raise ValueError(
            f'Got "{owner}" for owner: use 1-100 letters, digits, ".", "_", "@" or "-", '
            "starting with a letter or digit"
        )
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO api_keys (key_id, key_hash, owner, is_admin) VALUES (%s, %s, %s, %s)",
            (key_id, hash_secret(secret), owner, admin),
        )
    return f"{PREFIX}_{key_id}_{secret}"


def key_id_of(text: str) -> str:
    """The key id in a whole key or a bare key id; ValueError for anything else."""
    match = _KEY.match(text)
    if match is not None:
        return match.group(1)
    if re.fullmatch(r"[0-9a-f]{12}", text):
        return text
    raise ValueError(
        f'Got "{text[:40]}" for key: expected a key id (12 hex digits) or a whole key'
    )


def revoke_key(database_url: str, *, key_id: str) -> bool:
    """Revoke a key by its id; False when there is no such active key. Every ingress replica
    hears of it at commit (KEYS_CHANNEL) and forgets the key at once."""
    with psycopg.connect(database_url) as conn:
        cur = conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL",
            (key_id,),
        )
        if cur.rowcount != 1:
            return False
        conn.execute("SELECT pg_notify(%s, %s)", (KEYS_CHANNEL, key_id))
        return True


def list_keys(database_url: str, *, owner: str | None = None) -> list[dict[str, object]]:
    """Every key (never its secret), oldest first; only `owner`'s when given."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT key_id, owner, is_admin, created_at, revoked_at FROM api_keys"
            " WHERE %(owner)s::text IS NULL OR owner = %(owner)s ORDER BY created_at, key_id",
            {"owner": owner},
        ).fetchall()


async def lookup_owner(conn: psycopg.AsyncConnection[Any], token: str) -> Owner:
    """The Owner of an active key; AuthenticationError for a malformed, unknown, revoked or
    wrong key (one message for all, so the answer does not tell which)."""
    key_id, secret = parse_key(token)
    cur = conn.cursor(row_factory=tuple_row)
    await cur.execute(
        "SELECT key_hash, owner, is_admin FROM api_keys WHERE key_id = %s AND revoked_at IS NULL",
        (key_id,),
    )
    row = await cur.fetchone()
    if row is None or not check_secret(secret, row[0]):
        raise AuthenticationError("The API key is not valid")
    return Owner(name=row[1], admin=bool(row[2]), key_id=key_id)
