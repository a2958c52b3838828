"""Bookkeeping of the reliability tests: what happened to every accepted run, and the counts
each test reports (faults injected, runs submitted and completed, runs lost, hostile inputs,
5xx answers).

The run accounting reads PostgreSQL, the source of truth. `install_audit` adds a trigger (in
the test's own database only) that records every status change of every run, so a run that
ended twice, or whose result was written twice, shows up even if its row looks fine now.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

RESULTS = Path(__file__).resolve().parents[2] / "bench-results" / "reliability.json"
ENDED = ("done", "failed", "cancelled")

AUDIT_SQL = """
CREATE TABLE IF NOT EXISTS run_transitions (
    run_id uuid NOT NULL,
    old_status text NOT NULL,
    new_status text NOT NULL,
    attempts integer NOT NULL,
    wrote_statistics boolean NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE OR REPLACE FUNCTION record_run_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_transitions (run_id, old_status, new_status, attempts, wrote_statistics)
    VALUES (NEW.id, OLD.status, NEW.status, NEW.attempts,
            NEW.statistics IS DISTINCT FROM OLD.statistics);
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS runs_audit ON runs;
CREATE TRIGGER runs_audit AFTER UPDATE ON runs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.statistics IS DISTINCT FROM NEW.statistics)
    EXECUTE FUNCTION record_run_transition();
"""


def install_audit(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(AUDIT_SQL)


@dataclass(frozen=True)
class Accounting:
    """Where the accepted runs `ids` stand, from the database."""

    accepted: int
    done: int
    failed_with_reason: int
    failed_without_reason: int
    cancelled: int
    unfinished: int  # still queued or running
    missing: int  # accepted by the API, absent from the database
    ended_twice: int  # runs that reached an end state more than once
    written_twice: int  # runs whose statistics were written more than once
    requeued: int  # runs that went back to the queue at least once
    max_attempts: int

    @property
    def lost(self) -> int:
        """Accepted runs that neither completed nor failed with a reason."""
        return self.missing + self.unfinished + self.failed_without_reason

    def summary(self) -> dict[str, int]:
        return {**asdict(self), "lost": self.lost}


def account(database_url: str, ids: Iterable[str]) -> Accounting:
    ids = list(dict.fromkeys(str(i) for i in ids))
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id::text, status, error, attempts FROM runs WHERE id = ANY(%s::uuid[])",
            (ids,),
        ).fetchall()
        audit = conn.execute(
            "SELECT run_id::text,"
            " count(*) FILTER (WHERE new_status = ANY(%s) AND old_status <> new_status),"
            " count(*) FILTER (WHERE wrote_statistics AND new_status = 'done'),"
            " count(*) FILTER (WHERE old_status = 'running' AND new_status = 'queued')"
            " FROM run_transitions WHERE run_id = ANY(%s::uuid[]) GROUP BY run_id",
            (list(ENDED), ids),
        ).fetchall()
    status = {row[0]: row for row in rows}
    return Accounting(
        accepted=len(ids),
        done=sum(1 for r in rows if r[1] == "done"),
        failed_with_reason=sum(1 for r in rows if r[1] == "failed" and (r[2] or "").strip()),
        failed_without_reason=sum(1 for r in rows if r[1] == "failed" and not (r[2] or "").strip()),
        cancelled=sum(1 for r in rows if r[1] == "cancelled"),
        unfinished=sum(1 for r in rows if r[1] in ("queued", "running")),
        missing=sum(1 for i in ids if i not in status),
        ended_twice=sum(1 for a in audit if a[1] > 1),
        written_twice=sum(1 for a in audit if a[2] > 1),
        requeued=sum(1 for a in audit if a[3] > 0),
        max_attempts=max((r[3] for r in rows), default=0),
    )


def unfinished(database_url: str, ids: list[str]) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM runs WHERE id = ANY(%s::uuid[])"
            " AND status IN ('queued', 'running')",
            (ids,),
        ).fetchone()[0]  # type: ignore[index]


def wait_ended(database_url: str, ids: list[str], *, timeout_s: float) -> float:
    """Poll the database until none of `ids` is queued or running, or `timeout_s` passed;
    the seconds it took (the caller asserts on the accounting, not on this)."""
    started = time.monotonic()
    while unfinished(database_url, ids) and time.monotonic() - started < timeout_s:
        time.sleep(0.25)
    return time.monotonic() - started


MAX_STALL_S = 15.0  # the bound: open work, and no run ends for longer than this


def longest_stall_s(database_url: str, ids: list[str], *, since: float) -> float:
    """The longest stretch from `since` (epoch seconds, e.g. the fault) until the last of
    `ids` ended in which none of them ended: how long open work made no progress (from the
    audit's transition times, the database's clock on this machine)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        ends = [row[0] for row in conn.execute(
            "SELECT extract(epoch FROM at)::float8 FROM run_transitions"
            " WHERE run_id = ANY(%s::uuid[]) AND new_status IN ('done', 'failed', 'cancelled')"
            " AND at >= to_timestamp(%s) ORDER BY at", (ids, since)).fetchall()]
    moments = [since, *ends]
    return max((b - a for a, b in zip(moments, moments[1:], strict=False)), default=0.0)


def status_counts(database_url: str, ids: list[str]) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM runs WHERE id = ANY(%s::uuid[]) GROUP BY status",
            (ids,),
        ).fetchall()
    return dict(rows)  # type: ignore[arg-type]


@dataclass
class Tally:
    """The counts one test reports; written to bench-results/reliability.json."""

    test: str
    faults: int = 0  # processes killed, databases stopped, whole-app restarts
    submitted: int = 0  # runs accepted (202)
    completed: int = 0  # runs done
    failed_with_reason: int = 0
    lost: int = 0  # accepted runs neither done nor failed with a reason
    hostile: int = 0  # hostile inputs tried
    requests: int = 0  # HTTP requests made
    unavailable_503: int = 0  # 503 answers with Retry-After (database down, overload)
    server_errors: int = 0  # any other 5xx
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def add_runs(self, accounting: Accounting) -> None:
        self.submitted += accounting.accepted
        self.completed += accounting.done
        self.failed_with_reason += accounting.failed_with_reason
        self.lost += accounting.lost

    def line(self) -> str:
        return (
            f"[reliability] {self.test}: faults {self.faults}, runs submitted {self.submitted}, "
            f"completed {self.completed}, failed with a reason {self.failed_with_reason}, "
            f"lost {self.lost}, hostile inputs {self.hostile}, requests {self.requests}, "
            f"503+Retry-After {self.unavailable_503}, other 5xx {self.server_errors}, "
            f"{self.seconds:.1f} s"
        )


TOTALS = (
    "faults", "submitted", "completed", "failed_with_reason", "lost", "hostile", "requests",
    "unavailable_503", "server_errors",
)


def record(tally: Tally, *, outcome: str, session: list[Tally]) -> None:
    """Add this test's counts to the JSON report (kept across runs, keyed by test)."""
    session.append(tally)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    try:
        report = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        report = {}
    tests = report.get("tests", {})
    tests[tally.test] = {**asdict(tally), "outcome": outcome, "at": time.strftime("%FT%T")}
    report["tests"] = tests
    report["totals"] = {
        name: sum(entry.get(name, 0) for entry in tests.values()) for name in TOTALS
    }
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")


def totals_line(session: list[Tally]) -> str:
    sums = {name: sum(getattr(t, name) for t in session) for name in TOTALS}
    return (
        f"reliability totals ({len(session)} tests): faults injected {sums['faults']}, "
        f"runs submitted {sums['submitted']}, completed {sums['completed']}, failed with a "
        f"reason {sums['failed_with_reason']}, lost {sums['lost']}, hostile inputs "
        f"{sums['hostile']}, HTTP requests {sums['requests']}, 503+Retry-After "
        f"{sums['unavailable_503']}, other 5xx {sums['server_errors']}"
    )
