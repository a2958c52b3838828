"""API keys and error spelling, without Ray or HTTP."""

from __future__ import annotations

import asyncio
import hashlib

import psycopg
import pytest

from serve.database import KEYS_CHANNEL
from serve.errors import AuthenticationError
from serve.handlers import field_name
from serve.keys import create_key, key_id_of, list_keys, lookup_owner, parse_key, revoke_key


def _lookup(database_url: str, token: str):
    async def run():
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return await lookup_owner(conn, token)

    return asyncio.run(run())


def test_a_key_is_stored_only_as_the_hash_of_its_secret(database_url):
    key = create_key(database_url, owner="carol", admin=True)
    key_id, secret = parse_key(key)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT key_hash, owner, is_admin FROM api_keys WHERE key_id = %s", (key_id,)
        ).fetchone()
    assert row is not None
    assert bytes(row[0]) == hashlib.sha256(secret.encode()).digest()
    assert secret.encode() not in bytes(row[0])
    owner = _lookup(database_url, key)
    assert (owner.name, owner.admin, owner.key_id) == ("carol", True, key_id)


def test_wrong_revoked_and_malformed_keys_are_refused(database_url):
    key = create_key(database_url, owner="dave")
    key_id, secret = parse_key(key)
    with pytest.raises(AuthenticationError):
        _lookup(database_url, f"qbt_{key_id}_{'x' * len(secret)}")
    with pytest.raises(AuthenticationError, match="malformed"):
        parse_key("Bearer something")
    assert revoke_key(database_url, key_id=key_id)
    with pytest.raises(AuthenticationError):
        _lookup(database_url, key)


def test_revoking_tells_the_listeners_and_listing_shows_no_secret(database_url):
    kept, gone = create_key(database_url, owner="fay"), create_key(database_url, owner="gus")

    async def revoke_while_listening() -> list[tuple[str, str]]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute(f"LISTEN {KEYS_CHANNEL}")
            assert await asyncio.to_thread(revoke_key, database_url, key_id=key_id_of(gone))
            assert not await asyncio.to_thread(revoke_key, database_url, key_id=key_id_of(gone))
            return [(n.channel, n.payload) async for n in conn.notifies(timeout=1.0)]

    assert asyncio.run(revoke_while_listening()) == [(KEYS_CHANNEL, key_id_of(gone))]
    rows = list_keys(database_url)
    assert [(r["owner"], r["revoked_at"] is None) for r in rows] == [("fay", True), ("gus", False)]
    assert [r["key_id"] for r in list_keys(database_url, owner="fay")] == [key_id_of(kept)]
    assert all(parse_key(kept)[1] not in str(row) for row in rows)


@pytest.mark.parametrize("text", ["", "qbt_", "0123456789a", "0123456789abc", "drop table"])
def test_a_key_id_is_12_hex_digits_or_comes_from_a_whole_key(text):
    with pytest.raises(ValueError, match="for key: expected a key id"):
        key_id_of(text)
    assert key_id_of("0123456789ab") == "0123456789ab"
    assert key_id_of("qbt_0123456789ab_" + "s" * 43) == "0123456789ab"


@pytest.mark.parametrize("owner", ["", "has space", "x" * 101, "drop'table"])
def test_owner_names_are_checked(database_url, owner):
    with pytest.raises(ValueError, match="owner"):
        create_key(database_url, owner=owner)


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        (("body", "ranking", 0, "factor"), "ranking[0].factor"),
        (("body", "costs", "commission_bps"), "costs.commission_bps"),
        (("query", "wait"), "wait"),
        (("body",), None),
    ],
)
def test_validation_locations_read_like_spec_fields(loc, name):
    assert field_name(loc) == name
