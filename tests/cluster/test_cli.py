"""`qbt` commands: bad input gives one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import polars as pl
import pytest

from cluster.cli import main


@pytest.fixture
def env(monkeypatch, tmp_path, database_url):
    monkeypatch.setenv("QBT_DATABASE_URL", database_url)
    monkeypatch.setenv("QBT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QBT_RAY_ADDRESS", raising=False)
    return tmp_path


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_db_init_is_idempotent(env, capsys):
    assert main(["db", "init"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_missing_spec_file(env, capsys):
    assert main(["run", str(env / "nope.json")]) == 2
    assert "nope.json: no such file" in _one_line_error(capsys)


def test_spec_that_is_not_json(env, capsys):
    path = env / "spec.json"
    path.write_text("{not json")
    assert main(["run", str(path)]) == 2
    assert "not valid JSON" in _one_line_error(capsys)


def test_spec_that_does_not_validate_names_the_field(env, capsys):
    path = env / "spec.json"
    path.write_text(json.dumps({"start": "2023-01-02", "end": "2022-01-02",
                                "ranking": [{"factor": "PER"}], "top_n": 0}))
    assert main(["run", str(path)]) == 2
    line = _one_line_error(capsys)
    assert "top_n" in line


def test_unreachable_database(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("QBT_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    monkeypatch.setenv("QBT_HOME", str(tmp_path))
    assert main(["db", "init"]) == 2
    assert "database unreachable" in _one_line_error(capsys)


def test_bad_setting(monkeypatch, capsys):
    monkeypatch.setenv("QBT_HTTP_PORT", "eighty")
    assert main(["db", "init"]) == 2
    assert "QBT_HTTP_PORT" in _one_line_error(capsys)


def test_wrong_ray_address(env, database_url):
    path = env / "spec.json"
    path.write_text(json.dumps({"start": "2022-01-03", "end": "2022-06-30",
                                "ranking": [{"factor": "PER"}], "top_n": 5}))
    environment = {**os.environ, "QBT_RAY_ADDRESS": "127.0.0.1:1",
                   "QBT_DATABASE_URL": database_url, "QBT_HOME": str(env / "home")}
    done = subprocess.run([sys.executable, "-m", "cluster.cli", "run", str(path)],
                          env=environment, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in lines[0]


@pytest.mark.ray
def test_an_error_inside_a_ray_actor_is_one_line_without_ray_decoration(env, ray_session,
                                                                          capsys):
    path = env / "spec.json"
    path.write_text(json.dumps({"start": "2022-01-03", "end": "2022-06-30",
                                "ranking": [{"factor": "PER"}], "top_n": 5}))
    try:
        assert main(["run", str(path)]) == 2  # the database has no market data yet
    finally:
        import ray

        from dataprep.registry import get_registry

        ray.kill(get_registry())  # it points at this test's database
    line = _one_line_error(capsys)
    assert line.startswith("qbt run: The database holds no stock prices"), line


def test_db_demo_loads_then_refuses_to_overwrite(env, capsys):
    arguments = ["db", "demo", "--stocks", "20", "--start", "2022-01-01", "--end", "2022-06-30"]
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert "stocks:         20 rows" in out and "loaded (COPY) in" in out
    assert main(arguments) == 2
    assert "qbt db demo --replace" in _one_line_error(capsys)


def test_keys_create_list_revoke(env, capsys):
    assert main(["keys", "create", "--owner", "hana"]) == 0
    key = capsys.readouterr().out.strip()
    key_id = key.split("_")[1]
    assert main(["keys", "list", "--owner", "hana"]) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "hana" in listed and key.split("_", 2)[2] not in listed
    assert main(["keys", "revoke", key]) == 0
    assert f"revoked key {key_id}" in capsys.readouterr().out
    assert main(["keys", "revoke", key_id]) == 2
    assert f"no active key with id {key_id}" in _one_line_error(capsys)
    assert main(["keys", "revoke", "not-a-key"]) == 2
    assert 'Got "not-a-key" for key' in _one_line_error(capsys)


def _prep_without_ray(monkeypatch) -> None:
    """`qbt prep` puts the panel in Ray's object store; here nothing starts Ray."""
    import ray

    import runtime.ray_connection

    monkeypatch.setattr(runtime.ray_connection, "connect_ray", lambda *a, **k: None)
    monkeypatch.setattr(ray, "put", lambda value: object())


def test_prep_shows_each_factors_coverage_and_the_inputs_never_imported(env, monkeypatch,
                                                                       capsys):
    """Regression: after importing prices without statements, 17+ factors were NaN for every
    stock and nothing said so."""
    from tests.dataprep.tiny_market import day, tiny_market, write_tiny_market

    stocks = tiny_market()
    for stock in stocks.values():
        stock.statements = []
    write_tiny_market(os.environ["QBT_DATABASE_URL"], stocks)
    _prep_without_ray(monkeypatch)
    assert main(["prep", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    coverage = report["coverage"]
    assert len(coverage) == report["shape"][0] == 54
    assert coverage["PBR"] == {"first_day": None, "share": 0.0, "missing_inputs": ["total_equity"]}
    assert coverage["MARKET_CAP"] == {"first_day": str(day(0)), "share": 1.0,
                                      "missing_inputs": []}
    assert coverage["MOM_12_1"]["first_day"] == str(day(252))
    assert 0 < coverage["MOM_12_1"]["share"] < 1

    assert main(["prep"]) == 0
    text = capsys.readouterr().out
    assert "coverage: " in text and " of 54 factors have values" in text
    assert "PBR" in text and "no values (inputs never imported: total_equity)" in text
    assert f"  {'MARKET_CAP':<24} {day(0)}  100.0%" in text


def _small_market_files(folder):
    from datetime import date

    from dataprep.demo import generate_market

    market = generate_market(n_stocks=6, start=date(2023, 1, 1), end=date(2023, 3, 31), seed=2)
    market.stocks.write_csv(folder / "stocks.csv")
    cut = date(2023, 2, 15)
    market.prices.filter(pl.col("date") < cut).write_csv(folder / "prices_a.csv")
    market.prices.filter(pl.col("date") >= cut).write_parquet(folder / "prices_b.parquet")
    return market


def test_db_import_takes_every_file_given(env, capsys):
    market = _small_market_files(env)
    arguments = ["db", "import", "--stocks", str(env / "stocks.csv"),
                 "--prices", str(env / "prices_a.csv"), "--prices", str(env / "prices_b.parquet")]
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert f"stock_prices: {market.prices.height:>10,} new, 0 updated, 0 kept" in out
    assert main([*arguments, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "kept as they were (would write)" in out and "nothing written (--dry-run)" in out


def test_db_import_reads_every_file_before_it_starts_a_database(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("QBT_DATABASE_URL", raising=False)
    monkeypatch.setenv("QBT_HOME", str(tmp_path / "home"))
    (tmp_path / "prices.csv").write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,x,1,1,1,1\n")
    assert main(["db", "import", "--prices", str(tmp_path / "prices.csv")]) == 2
    line = _one_line_error(capsys)
    assert "prices.csv" in line and "nothing was written" in line
    assert not (tmp_path / "home" / "postgres").exists()  # no embedded server was started


@pytest.mark.slow
def test_a_command_stops_the_embedded_database_it_started(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("QBT_DATABASE_URL", raising=False)
    monkeypatch.setenv("QBT_HOME", str(tmp_path / "home"))
    assert main(["db", "init"]) == 0
    assert (tmp_path / "home" / "postgres").exists()
    assert not (tmp_path / "home" / "postgres" / "postmaster.pid").exists()  # stopped again
