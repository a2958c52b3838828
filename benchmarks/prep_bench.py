"""Time `build_panel` for 1- and 3-year panels (load and compute seconds) and print a table.

    python -m benchmarks.prep_bench --database-url URL [--years 1 3] [--repeat 2] [--ray]

Each panel ends on the last trading day in the database and starts `years` earlier; the
lookback the catalog needs (252 trading days) is loaded on top. Targets on a 2-core machine
with 2,000 stocks, full pipeline including `ray.put`: 1 year < 10 s, 3 years < 25 s.
`--ray` starts a local Ray and adds the `ray.put` seconds (Ray start-up not counted).
"""

from __future__ import annotations

import argparse
import gc
import logging
import time
from dataclasses import dataclass
from datetime import date

import psycopg

from dataprep.build import build_panel_timed

TARGETS_S = {1: 10.0, 3: 25.0}


@dataclass(frozen=True)
class Row:
    years: int
    start: date
    end: date
    n_days: int
    n_stocks: int
    load_s: float
    compute_s: float
    put_s: float | None
    gigabytes: float

    @property
    def total_s(self) -> float:
        return self.load_s + self.compute_s + (self.put_s or 0.0)


def data_span(database_url: str) -> tuple[date, date]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT min(date), max(date) FROM stock_prices").fetchone()
    if row is None or row[0] is None:
        raise SystemExit(f"No stock prices in {database_url}: load a market first (qbt db demo)")
    return row[0], row[1]


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def measure(*, database_url: str, years: int, repeat: int, use_ray: bool) -> Row:
    first, last = data_span(database_url)
    start = max(years_before(last, years), first)
    best: Row | None = None
    for _ in range(repeat):
        gc.collect()
        panel, timings = build_panel_timed(database_url=database_url, start=start, end=last)
        put_s = None
        if use_ray:
            import ray

            began = time.perf_counter()
            ref = ray.put(panel)
            put_s = time.perf_counter() - began
            del ref
        row = Row(
            years=years,
            start=panel.dates[0].astype(date),
            end=panel.dates[-1].astype(date),
            n_days=panel.n_days,
            n_stocks=panel.n_stocks,
            load_s=timings.load_s,
            compute_s=timings.compute_s,
            put_s=put_s,
            gigabytes=panel.nbytes / 1e9,
        )
        if best is None or row.total_s < best.total_s:
            best = row
        del panel
    assert best is not None
    return best


def table(rows: list[Row]) -> str:
    header = (
        f"{'years':>5} {'window':>23} {'days':>5} {'stocks':>6} {'load s':>7} {'compute s':>9}"
        f" {'put s':>6} {'total s':>7} {'GB':>5} {'target':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        target = TARGETS_S.get(row.years)
        verdict = "" if target is None else ("ok" if row.total_s < target else "SLOW")
        put = "-" if row.put_s is None else f"{row.put_s:.2f}"
        lines.append(
            f"{row.years:>5} {row.start} {row.end} {row.n_days:>5} {row.n_stocks:>6}"
            f" {row.load_s:>7.2f} {row.compute_s:>9.2f} {put:>6} {row.total_s:>7.2f}"
            f" {row.gigabytes:>5.2f} {verdict:>3} <{target or 0:.0f}s"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--years", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeat", type=int, default=1, help="runs per panel; the best counts")
    parser.add_argument("--ray", action="store_true", help="also time ray.put of the panel")
    args = parser.parse_args(argv)
    if args.ray:
        import ray

        ray.init(address="local", include_dashboard=False, logging_level=logging.ERROR)
    rows = [
        measure(database_url=args.database_url, years=years, repeat=args.repeat, use_ray=args.ray)
        for years in args.years
    ]
    print(table(rows))


if __name__ == "__main__":
    main()
