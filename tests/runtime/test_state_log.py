"""The live state line of a service actor: written on change (not more often than the gap)
and again while unchanged, so the newest line on the actor's page is never old."""

from __future__ import annotations

import io

from dataprep.registry import registry_state
from runtime.state_log import PREFIX, StateLog
from serve.dispatcher import dispatcher_state


def lines(stream: io.StringIO) -> list[str]:
    return [line.split(PREFIX, 1)[1] for line in stream.getvalue().splitlines()]


def test_a_change_is_written_once_the_gap_has_passed_and_a_steady_state_every_minute():
    stream = io.StringIO()
    log = StateLog(min_gap_s=5, every_s=60, stream=stream)
    assert log.write("queue 3", now=100)
    assert not log.write("queue 4", now=103)  # changed, but within the gap
    assert log.write("queue 4", now=105)
    assert not log.write("queue 4", now=164)  # unchanged: not before a minute
    assert log.write("queue 4", now=165)
    assert lines(stream) == ["queue 3", "queue 4", "queue 4"]
    assert stream.getvalue().splitlines()[0][:4].isdigit()  # each line says when


def test_the_registry_says_its_current_version_what_it_holds_and_what_it_builds():
    assert registry_state(current=None, held={}, building=[], budget=2**30) == (
        "no data version built yet (the first request builds it)")
    text = registry_state(current="v2", held={"v1": 3 * 2**20, "v2": 5 * 2**20},
                          building=["v3"], budget=8 * 2**30)
    assert text == ("data version v2 is current; 2 versions held, 8.0 of 8,192 MiB; "
                    "building v3")


def test_the_dispatcher_says_its_queue_what_is_in_flight_and_its_last_claim():
    assert dispatcher_state(queue_depth=0, single=0, variants=0, batches=0,
                            last_claim_at=None) == (
        "queue 0; in flight 0 (0 runs, 0 sweep variants) in 0 tasks; no claim yet")
    text = dispatcher_state(queue_depth=1200, single=3, variants=400, batches=1,
                            last_claim_at=0.0)
    assert text.startswith("queue 1,200; in flight 403 (3 runs, 400 sweep variants) in 1 task;")
    assert "last claim " in text
