"""Time `qbt db import` of ~1 million pykrx rows, as users have them.

    python -m benchmarks.import_bench --database-url URL [--stocks 2761] [--days 362]

Writes, under a temporary folder, what a user with pykrx and FinanceDataReader has: a
FinanceDataReader listing, one pykrx OHLCV file per ticker (Korean headers, cp949, a few
halted days written with open/high/low 0) and KRX daily files for the shares outstanding
(one per month), then imports them with one `import_market` call into a fresh database on
the same server (dropped afterwards) and reports rows, seconds reading and checking, seconds
writing, and rows per second. The XKRX calendar gives the days.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

import exchange_calendars as xc
import numpy as np
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dataprep.importing import ImportRequest, import_market
from dataprep.schema import migrate


def write_files(folder: Path, *, n_stocks: int, n_days: int, seed: int = 7) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    days = xc.get_calendar("XKRX").sessions_in_range("2023-01-02", "2025-12-30")[:n_days]
    stamps = [d.strftime("%Y-%m-%d") for d in days]
    codes = [f"{100000 + i * 7:06d}" for i in range(n_stocks)]
    listing = ["Code,Name,Market,Sector,Industry,ListingDate,SettleMonth"]
    listing += [f"{c},종목{i},{'KOSPI' if i % 3 else 'KOSDAQ'},업종{i % 20},산업,2010-01-04,12월"
                for i, c in enumerate(codes)]
    (folder / "listing.csv").write_text("\n".join(listing) + "\n", encoding="utf-8")
    prices = folder / "ohlcv"
    prices.mkdir()
    for code in codes:
        close = np.round(10_000 * np.exp(np.cumsum(rng.normal(0, 0.02, n_days))), -1)
        high, low = close * 1.01, close * 0.99
        volume = rng.integers(1_000, 100_000, n_days)
        halted = rng.random(n_days) < 0.002
        lines = ["날짜,시가,고가,저가,종가,거래량,등락률"]
        for k in range(n_days):
            if halted[k]:
                lines.append(f"{stamps[k]},0,0,0,{close[k]:.0f},0,0.0")
            else:
                lines.append(f"{stamps[k]},{close[k]:.0f},{high[k]:.0f},{low[k]:.0f},"
                             f"{close[k]:.0f},{volume[k]},0.0")
        (prices / f"{code}.csv").write_bytes(("\n".join(lines) + "\n").encode("cp949"))
    shares = folder / "krx"
    shares.mkdir()
    firsts = sorted({s[:7]: s for s in reversed(stamps)}.values())
    for day in firsts:
        lines = ["Code,Name,Market,Close,Volume,Amount,Marcap,Stocks"]
        lines += [f"{c},종목,KOSPI,10000,1,10000,1000000000,{1_000_000 + i}"
                  for i, c in enumerate(codes)]
        (shares / f"krx_{day.replace('-', '')}.csv").write_text("\n".join(lines) + "\n")
    return {"stocks": [str(folder / "listing.csv")], "prices": [str(prices)],
            "shares": [str(shares)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a server to make a scratch db on")
    parser.add_argument("--stocks", type=int, default=2761)
    parser.add_argument("--days", type=int, default=362)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()

    params = conninfo_to_dict(args.database_url)
    name = f"qbt_import_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo("", **{**params, "dbname": name})
    try:
        migrate(url)
        with tempfile.TemporaryDirectory(prefix="qbt-import-bench-") as tmp:
            began = time.perf_counter()
            files = write_files(Path(tmp), n_stocks=args.stocks, n_days=args.days)
            written_s = time.perf_counter() - began
            began = time.perf_counter()
            request = ImportRequest(stocks=files["stocks"], prices=files["prices"],
                                    shares=files["shares"])
            report = import_market(request, database_url=lambda: url)
            total = time.perf_counter() - began
        rows = report.written["stock_prices"].inserted
        result = {
            "price_rows": rows, "stocks": args.stocks, "files": args.stocks + 1,
            "read_and_check_s": round(report.read_s, 2), "write_s": round(report.write_s, 2),
            "total_s": round(total, 2), "rows_per_s": round(rows / total),
            "fixture_write_s": round(written_s, 1), "defaults": report.findings.defaults,
        }
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
