"""`qbt bench`: the data-path benchmark (see `benchmarks/datapath/`).

    qbt bench [--quick] [--modes db-per-run,redis-pickle,redis-arrow,ray-object-store]
              [--slots 2] [--runs 100] [--concurrency 1 4 16] [--redis-url URL]
              [--http URL --key KEY [--users 100]] [--out bench-results] [--json PATH]
    python -m benchmarks.bench --database-url URL ...   (the same, without the qbt CLI)

Prints the markdown table (stdout; progress goes to stderr) and writes the JSON (and the
markdown next to it) under `--out`. `--quick` creates a fresh database with a 30-stock
demo market on the same server, runs a few backtests per mode and drops it: a smoke test
that asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.datapath.modes import MODES as MODE_NAMES


def _modes(text: str) -> tuple[str, ...]:
    if text.strip() == "none":
        return ()  # only the HTTP scenario
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in MODE_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"Got {text!r} for --modes: expected a comma list of {', '.join(MODE_NAMES)} "
            "(or none: only the HTTP scenario)")
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"Got {text}: expected a whole number >= 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `qbt bench` (also those of `python -m benchmarks.bench`)."""
    parser.add_argument("--quick", action="store_true",
                        help="CI size: a tiny fresh market, 3 backtests per mode, concurrency 1, 2")
    parser.add_argument("--database-url", help="market database (default: QBT_DATABASE_URL)")
    parser.add_argument("--redis-url", help="default: 127.0.0.1:6379 if it answers, else a "
                                            "redis-server started on a free port")
    parser.add_argument("--modes", type=_modes, default=MODE_NAMES,
                        help="comma list (default: all four; none: only --http)")
    parser.add_argument("--slots", type=_positive, default=os.cpu_count() or 2,
                        help="backtests at once in the throughput phase (default: CPUs)")
    parser.add_argument("--runs", type=_positive, help="throughput backtests (default 100)")
    parser.add_argument("--latency-runs", type=_positive,
                        help="one-at-a-time backtests per mode (default 20)")
    parser.add_argument("--concurrency", type=_positive, nargs="+",
                        help="memory levels (default 1 4 16)")
    parser.add_argument("--window-days", type=_positive, help="trading days per backtest (250)")
    parser.add_argument("--throughput-budget-s", type=float,
                        help="seconds before the rest of --runs is extrapolated (default 150)")
    parser.add_argument("--arrow-codec", choices=("auto", "lz4", "zstd"), default="auto",
                        help="redis-arrow compression (auto: the faster to read, measured)")
    parser.add_argument("--memory-fraction", type=float, default=0.8,
                        help="run a level only if its estimate fits this share of free memory")
    parser.add_argument("--http", dest="http_url", metavar="URL",
                        help="also run the HTTP scenario against this running QBT API")
    parser.add_argument("--key", dest="http_key", help="API key for --http")
    parser.add_argument("--users", type=_positive, default=100, help="HTTP users (default 100)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"),
                        help="folder for the JSON and markdown (default bench-results/)")
    parser.add_argument("--json", type=Path, dest="json_path", help="JSON file to write")


def run_from_args(args: argparse.Namespace, *, database_url: str, command: str) -> int:
    from benchmarks.datapath.runner import FULL, QUICK, Options, run_suite, with_overrides

    if args.http_url and not args.http_key:
        raise ValueError("--http needs --key (create one with: qbt keys create --owner bench)")
    if not args.modes and not args.http_url:
        raise ValueError("--modes none runs nothing without --http URL --key KEY")
    if not 0 < args.memory_fraction <= 1:
        raise ValueError(f"Got {args.memory_fraction} for --memory-fraction: expected (0, 1]")
    size = with_overrides(
        QUICK if args.quick else FULL,
        runs=args.runs,
        latency_runs=args.latency_runs,
        concurrency=tuple(args.concurrency) if args.concurrency else None,
        window_days=args.window_days,
        throughput_budget_s=args.throughput_budget_s,
    )
    options = Options(
        size=size, database_url=database_url, command=command, modes=args.modes,
        redis_url=args.redis_url, slots=args.slots, arrow_codec=args.arrow_codec,
        memory_fraction=args.memory_fraction, out_dir=args.out, json_path=args.json_path,
        http_url=args.http_url, http_key=args.http_key, users=args.users,
    )
    report, text, path = run_suite(options)
    print(text)
    print(f"JSON: {path}  markdown: {path.with_suffix('.md')}", file=sys.stderr)
    failed = [m for m in report["modes"].values() if m.get("status") == "failed"]
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    database_url = args.database_url
    if database_url is None:
        from runtime.config import Settings
        from runtime.database import resolve_database_url

        database_url = resolve_database_url(Settings.from_env())
    words = sys.argv[1:] if argv is None else list(argv)
    return run_from_args(args, database_url=database_url,
                         command=shlex.join(["python", "-m", "benchmarks.bench", *words]))


if __name__ == "__main__":
    sys.exit(main())
