"""Fixtures of the reliability tests (markers chaos, load, security).

- `service`: one QBT service for the whole package (tests/serve/harness.py: its own database
  with a 60-stock demo market, the Serve app on a free port of the session's Ray), with the
  run audit trigger installed and options that make recovery quick (short leases, more
  attempts). The tests that need a real `qbt up` head start their own (test_chaos_cluster.py).
- `at_session_end`: clean-ups left running in the background, waited for at the end.
- `tally`: the counts a test reports, printed and written to bench-results/reliability.json;
  the totals are printed at the end of the session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.reliability.ledger import Tally, install_audit, record, totals_line
from tests.serve.harness import Deployed, running_service

SERVICE_OPTIONS: dict[str, Any] = {
    "lease_s": 5.0,  # a dead dispatcher's runs come back within seconds
    "max_attempts": 5,
    "owner_run_limit": 400,
}

_SESSION: list[Tally] = []


@pytest.fixture(scope="package")
def service(server_url: str, ray_session: None) -> Iterator[Deployed]:
    with running_service(server_url, **SERVICE_OPTIONS) as deployed:
        install_audit(deployed.database_url)
        yield deployed


@pytest.fixture(scope="session")
def at_session_end() -> Iterator[list[Callable[[], None]]]:
    """Clean-ups that may finish in the background (e.g. a `qbt down`); waited for at the
    end of the session."""
    pending: list[Callable[[], None]] = []
    yield pending
    for finish in pending:
        finish()


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    counts = Tally(test=request.node.nodeid.split("tests/reliability/")[-1])
    started = time.monotonic()
    yield counts
    counts.seconds = round(time.monotonic() - started, 1)
    report = getattr(request.node, "rep_call", None)
    outcome = "not run" if report is None else report.outcome
    if report is not None and hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    record(counts, outcome=outcome, session=_SESSION)
    print("\n" + counts.line())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SESSION:
        terminalreporter.write_sep("-", "reliability")
        for counts in _SESSION:
            terminalreporter.write_line(counts.line())
        terminalreporter.write_line(totals_line(_SESSION))
