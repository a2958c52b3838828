"""The `qbt` command line: parses arguments, builds Settings once, calls the domain."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from cluster.errors import user_error_message
from dataprep.defaults import DEMO_END, DEMO_SEED, DEMO_START, DEMO_STOCKS
from runtime.config import Settings
from runtime.database import database_for_command


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'"{text}" is not a date (YYYY-MM-DD)') from None


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f'"{text}" names no factor (comma-separated names)')
    return names


def _numbers(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'"{text}" is not a comma-separated list of whole numbers') from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qbt", description="QBT factor backtests on Ray.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start QBT here (database, demo market, Ray, API)")
    up.add_argument("--no-example", action="store_true", help="skip the example backtest")
    sub.add_parser("down", help="stop what `qbt up` started")
    sub.add_parser("status", help="cluster, datasets and queue")

    db = sub.add_parser("db", help="the market database").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    db.add_parser("init", help="apply schema migrations (idempotent)")
    demo = db.add_parser("demo", help="generate and load the KRX-like demo market")
    demo.add_argument("--stocks", type=int, default=DEMO_STOCKS)
    demo.add_argument("--start", type=_date, default=DEMO_START)
    demo.add_argument("--end", type=_date, default=DEMO_END)
    demo.add_argument("--seed", type=int, default=DEMO_SEED)
    demo.add_argument("--replace", action="store_true", help="replace existing market data")
    imp = db.add_parser(
        "import", help="import market data as pykrx, FinanceDataReader, KRX, KIND and DART "
        "write it (CSV, TSV, Parquet, gzip, zip; UTF-8 or cp949); see README",
    )
    files = "a file, a folder or a glob; repeatable"
    imp.add_argument("--stocks", action="append", default=[], metavar="F", help=files)
    imp.add_argument("--prices", action="append", default=[], metavar="F", help=files)
    imp.add_argument("--shares", action="append", default=[], metavar="F",
                     help="dated shares outstanding (KRX daily files, pykrx market cap)")
    imp.add_argument("--delistings", action="append", default=[], metavar="F",
                     help="KIND or FinanceDataReader delisting lists")
    imp.add_argument("--financials", action="append", default=[], metavar="F",
                     help="QBT's statements layout or DART bulk files (zip or text)")
    imp.add_argument("--indexes", action="append", default=[], metavar="[KOSPI=|KOSDAQ=]F",
                     help="index files; the index from NAME= or the file name (KS11, KQ11)")
    imp.add_argument("--status", action="append", default=[], metavar="[STATUS=]F",
                     help="KRX designations (관리종목, 투자경고/위험, 투자주의, 정리매매); the "
                          "designation from a column, STATUS= or the file name")
    imp.add_argument("--format", action="append", default=[], dest="formats", metavar="NAME",
                     help="use this layout instead of recognising it (repeatable)")
    imp.add_argument("--replace", action="store_true",
                     help="overwrite rows whose key the database holds (default: keep them)")
    imp.add_argument("--dry-run", action="store_true",
                     help="read, check and report; write nothing")

    keys = sub.add_parser("keys", help="API keys").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    create = keys.add_parser("create", help="create an API key (printed once, stored hashed)")
    create.add_argument("--owner", required=True)
    create.add_argument("--admin", action="store_true", help="may refresh datasets")
    listing = keys.add_parser("list", help="the keys (id, owner, admin, created, revoked)")
    listing.add_argument("--owner")
    revoke = keys.add_parser("revoke", help="revoke a key at once (the API forgets it now)")
    revoke.add_argument("key", help="the key id (12 hex digits) or the whole key")

    factors = sub.add_parser("factors", help="factor research").add_subparsers(
        dest="factors_command", required=True, metavar="ACTION"
    )
    research = factors.add_parser(
        "report", help="IC, quantile returns, decay and correlation of the factors (a Ray "
                       "task against the registry's panel)")
    research.add_argument("--factors", type=_names, help="comma-separated (default: all)")
    research.add_argument("--start", type=_date)
    research.add_argument("--end", type=_date)
    research.add_argument("--horizons", type=_numbers, default=[1, 5, 21, 63],
                          help="comma-separated trading days (default 1,5,21,63)")
    research.add_argument("--quantiles", type=int, default=5)
    research.add_argument("--sector-neutral", action="store_true",
                          help="rank each factor within sectors before the IC")
    research.add_argument("--json", action="store_true", help="print the whole report")

    prep = sub.add_parser("prep", help="build a factor panel and report its cost")
    prep.add_argument("--start", type=_date)
    prep.add_argument("--end", type=_date)
    prep.add_argument("--json", action="store_true")

    run = sub.add_parser("run", help="run one backtest from a StrategySpec JSON file")
    run.add_argument("spec", type=Path)
    run.add_argument("--json", action="store_true", help="print the whole result as JSON")

    picks = sub.add_parser("picks", help="what a StrategySpec JSON file would hold after the "
                                          "data's last day (score, rank, weight, factors)")
    picks.add_argument("spec", type=Path)
    picks.add_argument("--json", action="store_true", help="print the picks as JSON")

    report = sub.add_parser("report", help="write a finished run's report: one HTML file "
                                           "that opens offline")
    report.add_argument("run_id", metavar="ID", help="the run's id")
    report.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")

    sweep = sub.add_parser("sweep", help="run a sweep from a SweepSpec JSON file")
    sweep.add_argument("spec", type=Path)
    sweep.add_argument("--json", action="store_true")
    bench = sub.add_parser(
        "bench", add_help=False, help="QBT's data path beside the older designs (`qbt bench "
        "--help`: the harness's options; it runs from a QBT checkout)",
    )
    bench.add_argument("options", nargs="*", help="the harness's options")
    return parser


# Commands that need the database from the start (`db import` opens it only after reading
# its files, `up` keeps what it starts, `down` / `status` only look).
USES_DATABASE = frozenset({"db init", "db demo", "keys create", "keys list", "keys revoke",
                           "prep", "run", "picks", "sweep", "report", "factors report"})


def _handlers() -> dict[str, Callable[[argparse.Namespace, Settings], int]]:
    from cluster import commands

    return {
        "up": commands.up,
        "down": commands.down,
        "status": commands.status,
        "db init": commands.db_init,
        "db demo": commands.db_demo,
        "db import": commands.db_import,
        "keys create": commands.keys_create,
        "keys list": commands.keys_list,
        "keys revoke": commands.keys_revoke,
        "prep": commands.prep,
        "run": commands.run,
        "picks": commands.picks,
        "sweep": commands.sweep,
        "report": commands.report,
        "factors report": commands.factors_report,
    }


def _bench(options: list[str]) -> int:
    from cluster.commands import bench

    try:
        return bench(options)
    except Exception as err:
        message = user_error_message(err)
        if message is None:
            raise
        print(f"qbt bench: {message}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    # Ray token authentication stays on; a driver must know it before Ray is imported.
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["bench"]:  # every option after `bench` is the harness's own
        return _bench(words[1:])
    args = build_parser().parse_args(words)
    action = getattr(args, f"{args.command}_command", None)
    name = args.command + (f" {action}" if action else "")
    try:
        settings = Settings.from_env()
        if name not in USES_DATABASE:
            return _handlers()[name](args, settings)
        with database_for_command(settings) as url:  # an embedded one it started, it stops
            return _handlers()[name](args, settings.model_copy(update={"database_url": url}))
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # one clear line for what the user can fix, else re-raise
        message = user_error_message(err)
        if message is None:
            raise
        print(f"qbt {name}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
