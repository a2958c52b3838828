"""serve/store/reports.py against a real PostgreSQL: a factor report is queued under its
owner's limit, claimed once under a lease, written only by the attempt that holds it, and
re-queued (then failed) when its lease expires."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from serve.database import connect_once
from serve.errors import NotFoundError, QuotaExceededError
from serve.store.reports import (
    claim_reports,
    finish_report,
    get_report,
    insert_report,
    reap_reports,
)

SPEC = {"factors": ["PBR"], "horizons": [1, 5]}


def test_a_report_is_queued_claimed_once_and_written_by_its_attempt(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn:
            first, replayed = await insert_report(conn, owner="alice", spec=SPEC,
                                                  data_version="v1", idempotency_key="k",
                                                  limit=2)
            again, replayed_again = await insert_report(
                conn, owner="alice", spec=SPEC, data_version="v1", idempotency_key="k", limit=2)
            assert (replayed, replayed_again, again) == (False, True, first)
            await insert_report(conn, owner="alice", spec=SPEC, data_version="v1",
                                idempotency_key=None, limit=2)
            with pytest.raises(QuotaExceededError, match="2 factor reports queued or running"):
                await insert_report(conn, owner="alice", spec=SPEC, data_version="v1",
                                    idempotency_key=None, limit=2)
            [taken] = await claim_reports(conn, limit=1, lease_s=60)
            assert taken.id == str(first) and taken.attempt == 1 and taken.spec == SPEC
            # The lease expires: re-queued, claimed again; the old attempt writes nothing.
            await conn.execute("UPDATE factor_reports SET lease_until = now() - interval '1 s'"
                               " WHERE id = %s", (first,))
            assert await reap_reports(conn, max_attempts=3) == 1
            claims = await claim_reports(conn, limit=5, lease_s=60)
            retry = next(c for c in claims if c.id == str(first))
            assert retry.attempt == 2
            assert not await finish_report(conn, taken, result='{"a": 1}', error=None,
                                           data_version="v1")
            assert await finish_report(conn, retry, result='{"a": 2}', error=None,
                                       data_version="v2")
            record = await get_report(conn, owner="alice", report_id=first)
            assert record.status == "done" and json.loads(record.result) == {"a": 2}
            assert record.data_version == "v2" and record.attempts == 2
            with pytest.raises(NotFoundError):
                await get_report(conn, owner="bob", report_id=first)
            with pytest.raises(NotFoundError):
                await get_report(conn, owner="alice", report_id=uuid.uuid4())

    asyncio.run(scenario())


def test_a_report_whose_lease_keeps_expiring_fails_with_a_reason(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn:
            report, _ = await insert_report(conn, owner="carol", spec=SPEC, data_version="v1",
                                            idempotency_key=None, limit=5)
            for _ in range(2):
                await claim_reports(conn, limit=1, lease_s=60)
                await conn.execute("UPDATE factor_reports SET lease_until = now() -"
                                   " interval '1 s' WHERE id = %s", (report,))
                await reap_reports(conn, max_attempts=2)
            record = await get_report(conn, owner="carol", report_id=report)
            assert record.status == "failed" and "gave up after 2 attempts" in record.error

    asyncio.run(scenario())
