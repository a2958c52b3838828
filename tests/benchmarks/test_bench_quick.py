"""`qbt bench`: the codecs give back the panel they were made from, the counters count, the
report says what happened, and the quick size runs every mode end to end (no speed claims)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import threading

import numpy as np
import pytest

from benchmarks.bench import add_arguments
from benchmarks.datapath import codecs, markdown, report
from benchmarks.datapath.memory import Involved, pss_bytes, sample
from benchmarks.datapath.modes import MODES, REDIS_MODES
from benchmarks.datapath.netio import tcp_bytes_received
from cluster.cli import build_parser, main
from tests.dataprep.panels import synthetic_panel


def assert_same_panel(a, b) -> None:
    for name in ("dates", "codes", "names", "market", "sector", "tradable"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("values", "close", "returns"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert a.factor_names == b.factor_names
    assert a.values.dtype == np.float32 and a.values.flags.c_contiguous
    assert a.benchmarks.keys() == b.benchmarks.keys()
    for index in a.benchmarks:
        assert np.array_equal(a.benchmarks[index], b.benchmarks[index])


@pytest.fixture(scope="module")
def panel():
    panel = synthetic_panel(n_stocks=12, n_days=40, n_factors=54)
    panel.close[-5:, 0] = panel.returns[-5:, 0] = np.nan  # stock 0 delists: NaNs travel too
    panel.tradable[-5:, 0] = False
    panel.values[:, -5:, 0] = np.nan
    panel.values[3, :10, 1:4] = np.nan  # lookback gaps
    return panel


def test_pickle_records_give_back_the_panel(panel):
    records = codecs.panel_records(panel)
    listed = int((~np.isnan(panel.close)).sum())
    assert len(records["factors"]) == listed
    assert len(records["prices"]) == listed + len(panel.benchmarks) * panel.n_days
    assert set(records["factors"][0]) == {"code", "date", *panel.factor_names}
    blob, raw = codecs.encode_pickle(panel)
    assert raw > len(blob) > 0
    assert_same_panel(codecs.decode_pickle(blob, version="x"), panel)


@pytest.mark.parametrize("codec", codecs.ARROW_CODECS)
def test_arrow_ipc_gives_back_the_panel_without_copying_values(panel, codec):
    blob, raw = codecs.encode_arrow(panel, codec=codec)
    decoded = codecs.decode_arrow(blob)
    assert_same_panel(decoded, panel)
    assert not decoded.values.flags.owndata  # a view of the decompressed Arrow buffer
    with pytest.raises(ValueError, match="Arrow codec"):
        codecs.encode_arrow(panel, codec="gzip")


def test_pss_sums_the_driver_and_its_children():
    assert (pss_bytes(os.getpid()) or 0) > 1024**2
    assert pss_bytes(2**22 + 12345) is None  # no such process
    involved = Involved(ray=False)
    measured = sample(involved)
    assert measured.by_role["driver"] > 0 and measured.total >= measured.by_role["driver"]


def test_tcp_counter_sees_bytes_received():
    payload = b"x" * 3_000_000
    server = socket.create_server(("127.0.0.1", 0))

    def send() -> None:
        connection, _ = server.accept()
        with connection:
            connection.sendall(payload)

    thread = threading.Thread(target=send)
    thread.start()
    before = tcp_bytes_received()  # a new socket counts from 0
    with socket.create_connection(server.getsockname()) as client:
        received = 0
        while received < len(payload):
            received += len(client.recv(1 << 20))
        assert tcp_bytes_received() - before >= len(payload)
    thread.join()
    server.close()


def fake_mode(name: str, *, e2e: float, peaks: dict[int, float | None], extrapolated=False):
    memory = {
        str(c): ({"status": "ok", "peak_mb": mb} if mb is not None
                 else {"status": "skipped", "reason": "needs ~40 GB"})
        for c, mb in peaks.items()
    }
    return {
        "mode": name, "status": "ok", "prep": {"rows_read": 1000},
        "latency": {"e2e_s": {"p50": e2e, "p95": e2e}, "data_s": {"p50": e2e / 2},
                    "rows_read_per_backtest": 0.0, "bytes_received_per_backtest": 10.0},
        "throughput": {"runs": 10 if extrapolated else 100, "target_runs": 100,
                       "wall_s": 5.0, "wall_target_s": 50.0, "per_s": 2.0,
                       "extrapolated": extrapolated},
        "memory": memory, "stats_by_spec": {},
    }


def test_report_ratios_targets_and_notes_come_from_the_measurements():
    modes = {
        "redis-pickle": fake_mode("redis-pickle", e2e=20.0, peaks={1: 2000, 4: 8000, 16: None},
                                  extrapolated=True),
        "redis-arrow": fake_mode("redis-arrow", e2e=0.04, peaks={1: 400, 4: 900, 16: 3000}),
        "ray-object-store": fake_mode("ray-object-store", e2e=0.01,
                                      peaks={1: 700, 4: 850, 16: 1500}),
    }
    ratios = {r["mode"]: r for r in report.ratios(modes, top_level=16)}
    assert ratios["redis-pickle"]["speedup"] == pytest.approx(2000)
    assert ratios["redis-pickle"]["memory_level"] == 4  # 16 not measured: said so
    assert "needs ~40 GB" in ratios["redis-pickle"]["memory_note"]
    assert ratios["redis-arrow"]["memory_ratio"] == pytest.approx(2.0)
    targets = report.targets(modes, top_level=16, size="full")
    assert [t["met"] for t in targets] == [True, False, True, True, True]
    assert "missed" in targets[1]["margin"]
    assert report.growth_mb(modes["ray-object-store"]) == (pytest.approx(800 / 15), 16)
    notes: list[str] = []
    row = markdown.mode_row(modes["redis-pickle"], levels=[1, 4, 16], notes=notes)
    assert "extrapolated" in row and "skipped" in row
    assert any("10 of 100 backtests measured" in n for n in notes)


def _bench_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser


def test_bench_options():
    args = _bench_parser().parse_args(["--quick", "--modes", "redis-arrow,db-per-run"])
    assert args.quick and args.modes == ("redis-arrow", "db-per-run")
    assert _bench_parser().parse_args([]).modes == MODES
    assert _bench_parser().parse_args(["--modes", "none"]).modes == ()
    with pytest.raises(SystemExit):
        _bench_parser().parse_args(["--modes", "memcached"])


def test_qbt_bench_runs_the_harness_of_the_checkout(capfd):
    """`qbt bench` passes its options to `python -m benchmarks.bench` (not in the wheel)."""
    assert "bench" in build_parser().format_help()
    assert main(["bench", "--help"]) == 0
    assert "--modes" in capfd.readouterr().out


def test_http_errors_are_grouped_by_kind():
    from benchmarks.datapath.httpstep import error_kinds

    errors = {
        "HTTP 408: Request fc296bdc-882a-41de-b2fc-12f21cccd50d timed out after 90.0s.": 1,
        "HTTP 408: Request 0d410280-8ad7-44dd-b47c-e7986c1297c0 timed out after 90.0s.": 2,
        "ReadTimeout": 1,
    }
    assert error_kinds(errors) == {"HTTP 408: Request <id> timed out after 90.0s.": 3,
                                   "ReadTimeout": 1}


@pytest.mark.slow
def test_quick_bench_measures_every_mode(server_url, tmp_path):
    from benchmarks.datapath.runner import QUICK, Options, run_suite

    options = Options(size=QUICK, database_url=server_url, command="qbt bench --quick",
                      out_dir=tmp_path)
    result, text, path = run_suite(options)

    assert json.loads(path.read_text())["command"] == "qbt bench --quick"
    assert path.with_suffix(".md").read_text() == text
    measured = []
    for name in MODES:
        mode = result["modes"][name]
        if name in REDIS_MODES and mode["status"] == "skipped":
            continue  # no Redis here: said in the report, not an error
        assert mode["status"] == "ok", mode.get("error")
        measured.append(name)
        assert mode["latency"]["runs"] == 3 and mode["latency"]["errors"] == 0
        assert mode["latency"]["e2e_s"]["p50"] >= mode["latency"]["data_s"]["p50"] > 0
        assert mode["throughput"]["runs"] == 3 and not mode["throughput"]["extrapolated"]
        for level in ("1", "2"):
            assert mode["memory"][level]["status"] == "ok"
            assert mode["memory"][level]["peak_mb"] > 0
        assert f"| {name} |" in text
    assert "ray-object-store" in measured and "db-per-run" in measured
    per_run_rows = result["modes"]["db-per-run"]["latency"]["rows_read_per_backtest"]
    assert per_run_rows > 0 and result["modes"]["ray-object-store"]["prep"]["rows_read"] > 0
    assert result["modes"]["ray-object-store"]["latency"]["rows_read_per_backtest"] == 0
    assert {r["mode"] for r in result["ratios"]} == set(measured) - {"ray-object-store"}
    for entry in result["agreement"]["modes"].values():
        assert entry["mismatched"] == [] and entry["repeat_runs_consistent"]
