"""build_panel: the FactorPanel's shapes, dtypes and layout, and its typed errors."""

from __future__ import annotations

from datetime import date

import numpy as np
import psycopg
import pytest

import dataprep
from dataprep import DateRangeError, EmptyDatabaseError, PanelBuildError
from dataprep.factors import FACTOR_NAMES
from dataprep.loaders import data_version
from tests.dataprep.tiny_market import N_DAYS, START, day, write_tiny_market


@pytest.fixture
def loaded_url(database_url: str) -> str:
    write_tiny_market(database_url)
    return database_url


def test_panel_shapes_dtypes_and_layout(loaded_url: str) -> None:
    panel, timings = dataprep.build_panel_timed(
        database_url=loaded_url, start=day(START), end=day(300)
    )
    n_days, n_stocks = 300 - START + 1, 4
    assert panel.values.shape == (54, n_days, n_stocks)
    assert panel.values.dtype == np.float32 and panel.values.flags.c_contiguous
    for array in (panel.close, panel.returns):
        assert array.dtype == np.float64 and array.shape == (n_days, n_stocks)
        assert array.flags.c_contiguous
    assert panel.tradable.dtype == np.bool_ and panel.tradable.shape == (n_days, n_stocks)
    assert panel.dates.dtype == np.dtype("datetime64[D]")
    assert panel.dates[0] == np.datetime64(day(START))
    assert panel.dates[-1] == np.datetime64(day(300))
    for array in (panel.codes, panel.names, panel.market, panel.sector):
        assert array.dtype.kind == "U" and array.shape == (n_stocks,)
    assert list(panel.market) == ["KOSPI", "KOSDAQ", "KOSPI", "KOSDAQ"]
    assert panel.factor_names == FACTOR_NAMES
    assert set(panel.benchmarks) == {"KOSPI", "KOSDAQ"}
    assert all(b.dtype == np.float64 and b.shape == (n_days,) for b in panel.benchmarks.values())
    assert np.isnan(panel.returns[0]).all()  # the day before the panel is not in it
    assert panel.version.endswith(f"-{day(START):%Y%m%d}-{day(300):%Y%m%d}")
    assert timings.load_s > 0 and timings.compute_s > 0


def test_defaults_cover_all_the_data(loaded_url: str) -> None:
    panel = dataprep.build_panel(database_url=loaded_url)
    assert panel.n_days == N_DAYS and panel.n_stocks == 5
    assert np.isnan(panel.factor("MOM_12_1")[:252]).all()  # no history before the data
    assert not np.isnan(panel.factor("MOM_12_1")[252:, 0]).any()
    with psycopg.connect(loaded_url) as conn:  # the whole data: the version is the data's own
        assert panel.version == data_version(conn)


def test_empty_database(database_url: str) -> None:
    with pytest.raises(EmptyDatabaseError, match="no stock prices"):
        dataprep.build_panel(database_url=database_url)


def test_start_after_end(loaded_url: str) -> None:
    with pytest.raises(PanelBuildError, match="Got start 2022-06-01 after end 2022-05-01"):
        dataprep.build_panel(database_url=loaded_url, start=date(2022, 6, 1), end=date(2022, 5, 1))


def test_range_outside_the_data(loaded_url: str) -> None:
    last = day(N_DAYS - 1)
    with pytest.raises(DateRangeError, match=f"Got 2031-01-01 for end: the data ends on {last}"):
        dataprep.build_panel(database_url=loaded_url, end=date(2031, 1, 1))
    with pytest.raises(DateRangeError, match="Got 2030-01-01 for start: the data ends on"):
        dataprep.build_panel(database_url=loaded_url, start=date(2030, 1, 1))
    with pytest.raises(DateRangeError, match="for end: the data begins on 2022-01-03"):
        dataprep.build_panel(database_url=loaded_url, end=date(2020, 1, 1))


def test_errors_are_value_errors(loaded_url: str) -> None:
    with pytest.raises(ValueError, match="expected a datetime.date or an ISO date string"):
        dataprep.build_panel(database_url=loaded_url, start=20220103)  # type: ignore[arg-type]


def test_iso_strings_are_taken_as_dates(loaded_url: str) -> None:
    """Regression: README shows `build_panel(start="2024-07-01", ...)`, which was refused."""
    panel = dataprep.build_panel(
        database_url=loaded_url, start=day(START).isoformat(), end=day(300).isoformat()
    )
    assert (panel.dates[0], panel.dates[-1]) == (np.datetime64(day(START)), np.datetime64(day(300)))
    same = dataprep.build_panel(database_url=loaded_url, start=day(START), end=day(300))
    assert panel.version == same.version
    np.testing.assert_array_equal(panel.values, same.values)


@pytest.mark.parametrize(("argument", "value"), [("start", "2022-13-01"), ("end", "June 1st")])
def test_a_bad_date_string_names_the_argument_and_the_value(
    loaded_url: str, argument: str, value: str
) -> None:
    with pytest.raises(PanelBuildError) as caught:
        dataprep.build_panel(database_url=loaded_url, **{argument: value})
    assert str(caught.value).startswith(f'Got "{value}" for {argument}: not a date')


def test_prices_only_database(database_url: str) -> None:
    """No statements and no index: the panel builds, fundamentals and benchmarks are NaN."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO stocks VALUES ('000001', 'One', 'KOSPI', 'S', '2022-01-03', NULL),"
            " ('000002', 'Two', 'KOSDAQ', 'S', '2022-01-03', NULL)"
        )
        conn.execute(
            "INSERT INTO stock_prices SELECT code, d::date, 10 + i, 10 + i, 10 + i, 10 + i,"
            " 100, 100 * (10 + i), 1000"
            " FROM (VALUES ('000001'), ('000002')) c(code),"
            " generate_series(0, 29) i, LATERAL (SELECT date '2022-01-03' + i AS d) x"
        )
    panel = dataprep.build_panel(database_url=database_url)
    assert panel.values.shape == (54, 30, 2)
    assert np.isnan(panel.factor("PBR")).all() and np.isnan(panel.benchmarks["KOSPI"]).all()
    np.testing.assert_allclose(panel.factor("MARKET_CAP")[:, 0], (10 + np.arange(30)) * 1000)
    assert panel.tradable.all()


def test_datetimes_are_taken_as_dates(loaded_url: str) -> None:
    from datetime import datetime

    panel = dataprep.build_panel(database_url=loaded_url, start=datetime(2023, 1, 2, 15, 30))
    assert panel.dates[0] == np.datetime64("2023-01-02")
