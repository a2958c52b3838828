"""Isolation: one owner can never read, list or cancel another owner's runs or sweeps (their ids
answer exactly like ids that do not exist); API keys are stored hashed and compared in
constant time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from serve import keys as serve_keys
from serve.errors import AuthenticationError
from serve.keys import create_key, parse_key
from serve.store.runs import encode_cursor
from tests.reliability.ledger import Tally
from tests.serve.harness import SPEC, Deployed

pytestmark = [pytest.mark.security, pytest.mark.ray, pytest.mark.slow]

SWEEP = {"base": SPEC, "grid": {"top_n": [3, 4]}}


def _client(service: Deployed, key: str) -> httpx.Client:
    return httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"},
                        timeout=70.0)


def _without_ids(body: dict[str, Any], *ids: str) -> dict[str, Any]:
    error = dict(body["error"])
    for ident in ids:
        error["message"] = error["message"].replace(ident, "<id>")
    return error


def test_an_owner_cannot_read_list_or_cancel_another_owners_work(service: Deployed, tally: Tally):
    owner_key = create_key(service.database_url, owner="iso-owner")
    other_key = create_key(service.database_url, owner="iso-other")
    with _client(service, owner_key) as owner:
        run = owner.post("/v1/backtests", json=SPEC, headers={"Idempotency-Key": "shared-key"})
        sweep = owner.post("/v1/sweeps", json=SWEEP)
        assert run.status_code == 202 and sweep.status_code == 202, (run.text, sweep.text)
        run_id, sweep_id = run.json()["id"], sweep.json()["id"]
        created = owner.get(f"/v1/backtests/{run_id}").json()["created_at"]
    nobody = str(uuid.uuid4())
    stolen_cursor = encode_cursor(created_at=_parse(created), run_id=run_id)

    with _client(service, other_key) as other:
        attempts = {
            "read run": other.get(f"/v1/backtests/{run_id}"),
            "wait on run": other.get(f"/v1/backtests/{run_id}", params={"wait": 5}),
            "cancel run": other.delete(f"/v1/backtests/{run_id}"),
            "read sweep": other.get(f"/v1/sweeps/{sweep_id}"),
            "cancel sweep": other.delete(f"/v1/sweeps/{sweep_id}"),
        }
        unknown = {
            "read run": other.get(f"/v1/backtests/{nobody}"),
            "read sweep": other.get(f"/v1/sweeps/{nobody}"),
        }
        listing = other.get("/v1/backtests", params={"limit": 100})
        after_cursor = other.get("/v1/backtests", params={"cursor": stolen_cursor})
        # The same Idempotency-Key and body: a run of the other owner, not the first one's.
        replay = other.post("/v1/backtests", json=SPEC, headers={"Idempotency-Key": "shared-key"})
    tally.hostile += len(attempts) + 3
    tally.requests += len(attempts) + len(unknown) + 3
    tally.server_errors += sum(r.status_code >= 500 for r in attempts.values())

    for name, answer in attempts.items():
        assert answer.status_code == 404, (name, answer.text)
    assert (_without_ids(attempts["read run"].json(), run_id)
            == _without_ids(unknown["read run"].json(), nobody))  # no existence oracle
    assert (_without_ids(attempts["read sweep"].json(), sweep_id)
            == _without_ids(unknown["read sweep"].json(), nobody))
    assert listing.status_code == 200 and listing.json()["items"] == []
    assert after_cursor.status_code == 200 and after_cursor.json()["items"] == []
    assert replay.status_code == 202 and "idempotent-replayed" not in replay.headers
    assert replay.json()["id"] != run_id
    other_runs = service.sql("SELECT owner FROM runs WHERE id = %s", (replay.json()["id"],))
    assert other_runs == [("iso-other",)]

    with _client(service, owner_key) as owner:  # the owner's work is untouched
        mine = owner.get(f"/v1/backtests/{run_id}", params={"wait": 30}).json()
        listed = owner.get("/v1/backtests").json()["items"]
        swept = owner.get(f"/v1/sweeps/{sweep_id}").json()
    assert mine["status"] == "done" and [item["id"] for item in listed] == [run_id]
    assert swept["status"] in ("queued", "running", "done") and swept["n_total"] == 2


def _parse(stamp: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(stamp)


def test_only_admin_keys_refresh_datasets(service: Deployed, tally: Tally):
    with service.client("bob") as bob, service.client("root") as root:
        refused, allowed = bob.post("/v1/datasets/refresh"), root.post("/v1/datasets/refresh")
    tally.hostile += 1
    tally.requests += 2
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert allowed.status_code == 202, allowed.text


def test_keys_are_stored_hashed_and_compared_in_constant_time(
    service: Deployed, tally: Tally, monkeypatch: pytest.MonkeyPatch
):
    key = create_key(service.database_url, owner="iso-hash")
    key_id, secret = parse_key(key)
    with psycopg.connect(service.database_url) as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE key_id = %s", (key_id,)).fetchone()
        stored = conn.execute("SELECT api_keys::text FROM api_keys WHERE key_id = %s",
                              (key_id,)).fetchone()[0]  # type: ignore[index]
    assert row is not None
    assert secret not in stored and key not in stored  # only the hash is stored
    assert bytes(row[1]) == hashlib.sha256(secret.encode()).digest()

    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(serve_keys.hmac, "compare_digest", spy)
    wrong_same_length = f"qbt_{key_id}_{'A' * len(secret)}"
    wrong_longer = f"qbt_{key_id}_{secret}{'B' * 40}"[:len(key) + 40]
    unknown_id = f"qbt_{'0' * 12}_{secret}"

    async def outcomes() -> list[str]:
        answers = []
        async with await psycopg.AsyncConnection.connect(service.database_url) as conn:
            for token in (key, wrong_same_length, wrong_longer, unknown_id):
                try:
                    answers.append((await serve_keys.lookup_owner(conn, token)).name)
                except AuthenticationError as err:
                    answers.append(err.message)
        return answers

    answers = asyncio.run(outcomes())
    tally.hostile += 3
    assert answers[0] == "iso-hash"
    assert answers[1] == answers[2] == answers[3] == "The API key is not valid"
    # Every secret of a known key id went through hmac.compare_digest, as two 32-byte
    # digests: the time does not depend on where, or whether, the secrets differ.
    assert len(compared) == 3
    assert all(len(a) == len(b) == 32 for a, b in compared)
    with _client(service, wrong_same_length) as http:
        wrong = http.get("/v1/factors")
    with _client(service, unknown_id) as http:
        unknown = http.get("/v1/factors")
    tally.requests += 2
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()  # a wrong secret reads like an unknown key
