"""`qbt db import`: the files Korean quants already have, in their own layouts and encodings.

Steps: read every file and recognise its layout (`reading`, `formats`) -> map and parse its
cells (`parse`, `values`) -> each kind's standard defaults and checks (`rules`; DART bulk
statements in `dart`) -> only then the database: codes against the stocks of the import and
of the database, and the write in ONE transaction (`write`). Every problem of every file is
reported in one run (`problems`); a run with any error writes nothing, and `dry_run` writes
nothing at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl
import psycopg

from dataprep.importing import rules
from dataprep.importing.formats import FORMATS, Kind
from dataprep.importing.parse import read_kind
from dataprep.importing.problems import Findings, ImportValidationError
from dataprep.importing.write import Written, write_import

KINDS: tuple[Kind, ...] = ("stocks", "prices", "shares", "delistings", "financials", "indexes",
                           "status")


@dataclass(frozen=True)
class ImportRequest:
    """What to import: for each kind, the files, folders or globs (indexes may be
    `KOSPI=FILE`, designations `administrative=FILE`); `formats` names layouts instead of
    recognising them."""

    stocks: Sequence[str] = ()
    prices: Sequence[str] = ()
    shares: Sequence[str] = ()
    delistings: Sequence[str] = ()
    financials: Sequence[str] = ()
    indexes: Sequence[str] = ()
    status: Sequence[str] = ()
    formats: Sequence[str] = ()
    replace: bool = False
    dry_run: bool = False

    def files_of(self, kind: Kind) -> Sequence[str]:
        return getattr(self, kind)  # type: ignore[no-any-return]


@dataclass
class ImportReport:
    read: dict[str, int]  # rows read per kind, after skips
    written: dict[str, Written] = field(default_factory=dict)
    findings: Findings = field(default_factory=Findings)
    read_s: float = 0.0
    write_s: float = 0.0
    dry_run: bool = False


class NothingToImportError(ValueError):
    pass


def prepare(request: ImportRequest, findings: Findings) -> dict[str, pl.DataFrame]:
    """Read, parse, default and check every file (no database); the frames to write."""
    if not any(request.files_of(kind) for kind in KINDS):
        raise NothingToImportError("nothing to import: give --stocks, --prices, --shares, "
                                   "--delistings, --financials, --indexes or --status")
    known = {f.name for f in FORMATS}
    unknown = [name for name in request.formats if name not in known]
    if unknown:
        raise NothingToImportError(
            f"Got {', '.join(unknown)} for --format: the formats are {', '.join(sorted(known))}")

    def read(kind: Kind) -> pl.DataFrame:
        own = {f.name for f in FORMATS if f.kind == kind}
        forced = next((name for name in request.formats if name in own), None)
        return read_kind(kind, request.files_of(kind), findings=findings, forced=forced)

    shares = rules.shares_of(read("shares"), findings) if request.shares else \
        pl.DataFrame(schema={"code": pl.String, "date": pl.Date,
                             "shares_outstanding": pl.Float64})
    frames = {
        "stocks": rules.stocks(read("stocks"), findings),
        "delistings": rules.delistings(read("delistings"), findings),
        "prices": rules.prices(read("prices"), findings, shares=shares),
        "financials": rules.financials(read("financials"), findings),
        "indexes": rules.indexes(read("indexes"), findings),
        "status": rules.status(read("status"), findings),
    }
    findings.raise_if_errors()
    return frames


def import_market(request: ImportRequest, *, database_url: Callable[[], str]) -> ImportReport:
    """Validate every file, then (and only then: `database_url()` may start a database)
    write them in one transaction. Raises ImportValidationError listing the problems."""
    findings = Findings()
    began = time.perf_counter()
    frames = prepare(request, findings)
    report = ImportReport(read={k: v.height for k, v in frames.items()}, findings=findings,
                          read_s=time.perf_counter() - began, dry_run=request.dry_run)
    began = time.perf_counter()
    with psycopg.connect(database_url()) as conn:
        try:
            with conn.transaction():
                report.written = write_import(conn, frames, replace=request.replace,
                                              findings=findings)
                if request.dry_run:
                    raise _DryRun  # rolls the transaction back
        except _DryRun:
            pass
        except psycopg.Error as err:
            from dataprep.warehouse import WarehouseError

            raise WarehouseError(
                f"The database refused the import, nothing was written: {err}") from err
    report.write_s = time.perf_counter() - began
    return report


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


__all__ = ["ImportReport", "ImportRequest", "ImportValidationError", "import_market", "prepare"]
