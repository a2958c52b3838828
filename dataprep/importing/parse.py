"""Files of one kind -> one typed frame: expand the paths, read each file, recognise its
layout, map its headers to QBT's columns, take what the layout keeps in the file name (the
code, the day, the index), then parse every cell (`values`). Problems go to `findings`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

import dataprep.importing.values as values
from dataprep.importing.formats import (
    COLUMNS,
    Format,
    Kind,
    Parse,
    code_in_name,
    date_in_name,
    detect,
    formats_of,
    index_in_name,
    mapping,
    status_in_name,
)
from dataprep.importing.problems import LINE, ORIGIN, UNPARSED, Findings, Problem, check
from dataprep.importing.reading import RawFile, expand, read
from dataprep.tables import STATEMENT_ITEMS

PARSERS = {"text": values.text, "code": values.code, "date": values.date, "number": values.number}


def columns_of(kind: Kind) -> dict[str, Parse]:
    """Target column -> how it parses, for a kind (financials: plus every statement item)."""
    parsed: dict[str, Parse] = {target: parse for target, (parse, _) in COLUMNS[kind].items()}
    if kind == "financials":
        parsed.update(dict.fromkeys(STATEMENT_ITEMS, "number"))
    return parsed


def read_kind(
    kind: Kind,
    specs: Sequence[str],
    *,
    findings: Findings,
    forced: str | None = None,
) -> pl.DataFrame:
    """Every file the `specs` name, as one frame of the kind's columns (typed), plus ORIGIN
    and LINE. `specs` may carry `NAME=` prefixes for indexes (`KOSPI=ks11.csv`)."""
    mapped: list[pl.DataFrame] = []
    dart: list[RawFile] = []
    for spec in specs:
        label, path = _label(kind, spec)
        for file in _files(path, findings):
            fmt = _detect(kind, file, forced=forced, findings=findings)
            if fmt is None:
                continue
            if fmt.name == "dart":
                dart.append(file)
                continue
            frame = _map(kind, fmt, file, label=label, findings=findings)
            if frame is not None:
                mapped.append(frame)
    typed = [_parse(kind, frame, findings) for frame in mapped]
    if dart:
        from dataprep.importing.dart import dart_statements

        typed.append(dart_statements(dart, findings))
    if not typed:
        return _empty(kind)
    out = pl.concat(typed, how="diagonal_relaxed")
    if UNPARSED not in out.columns:
        out = out.with_columns(pl.lit(None, pl.String).alias(UNPARSED))
    return out


def _label(kind: Kind, spec: str) -> tuple[str | None, str]:
    if kind in ("indexes", "status") and "=" in spec and not Path(spec).exists():
        name, _, rest = spec.partition("=")
        return name.strip().upper(), rest
    return None, spec


def _files(spec: str, findings: Findings) -> list[RawFile]:
    from dataprep.importing.problems import ImportValidationError

    try:
        return [table for path in expand(spec) for table in read(path)]
    except ImportValidationError as err:
        for problem in err.problems:
            findings.error(problem)
        return []


def _detect(kind: Kind, file: RawFile, *, forced: str | None, findings: Findings) -> Format | None:
    names = [f.name for f in formats_of(kind)]
    fmt = detect(kind, file.columns, forced=forced if forced in names else None)
    if fmt is None:
        expected = "; ".join(f"{f.name}: {f.description}" for f in formats_of(kind))
        findings.error(Problem(
            file.name, None, None,
            f"not a {kind} layout QBT knows (found: {', '.join(file.columns) or 'no columns'}); "
            f"the {kind} layouts: {expected}",
        ))
    return fmt


def _map(
    kind: Kind, fmt: Format, file: RawFile, *, label: str | None, findings: Findings
) -> pl.DataFrame | None:
    """The file's columns renamed to targets, and what the file name holds."""
    targets = columns_of(kind)
    found = mapping(kind, file.columns)
    if kind == "financials":
        normal = {c.strip().lower(): c for c in file.columns}
        found.update({item: normal[item] for item in STATEMENT_ITEMS if item in normal})
    frame = file.frame.select(
        *(pl.col(header).alias(target) for target, header in found.items() if target in targets),
        ORIGIN, LINE,
    )
    unused = [c for c in file.columns if c not in found.values()]
    if unused:
        findings.default(f"columns not used by the {fmt.name} layout: {', '.join(unused)}",
                         file.frame.height)
    name_values = {
        "code": (fmt.code_from_name, code_in_name, "a stock code (e.g. 005930.csv)"),
        "date": (fmt.date_from_name, date_in_name, "a date (e.g. krx_20240102.csv)"),
        "index_code": (fmt.index_from_name, index_in_name, "KS11 / KQ11 / KOSPI / KOSDAQ"),
        "status": (fmt.status_from_name, status_in_name,
                   "a designation (관리종목, 투자경고, 투자주의, 정리매매)"),
    }
    for column, (allowed, finder, example) in name_values.items():
        if not allowed or column in frame.columns:
            continue
        value = label if column in ("index_code", "status") and label else finder(file.name)
        if value is None:
            findings.error(Problem(
                file.name, None, column,
                f"the {fmt.name} layout has no {column} column and the file name holds no "
                f"{example}" + (" (or give it as NAME=FILE)" if column == "index_code" else ""),
            ))
            return None
        frame = frame.with_columns(pl.lit(value).alias(column))
    return frame


def _parse(kind: Kind, frame: pl.DataFrame, findings: Findings) -> pl.DataFrame:
    """Typed columns; a cell that does not parse is an error naming it."""
    targets = columns_of(kind)
    present = [c for c in targets if c in frame.columns]
    typed = frame.with_columns(PARSERS[targets[c]](c).alias(f"__typed_{c}") for c in present)
    unparsed = []
    for column in present:
        if targets[column] in ("date", "number"):
            given = values.text(column)
            bad = given.is_not_null() & pl.col(f"__typed_{column}").is_null()
            what = "a date (YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD)" if targets[column] == "date" \
                else "a number"
            check(findings, typed, bad, column=column, message=f"expected {what}")
            unparsed.append(pl.when(bad).then(pl.lit(column)))
    return typed.select(
        *(pl.col(f"__typed_{c}").alias(c) for c in present), ORIGIN, LINE,
        pl.concat_str(unparsed, separator=",", ignore_nulls=True).alias(UNPARSED)
        if unparsed else pl.lit(None, pl.String).alias(UNPARSED),
    )


def _empty(kind: Kind) -> pl.DataFrame:
    dtypes = {"text": pl.String, "code": pl.String, "date": pl.Date, "number": pl.Float64}
    schema = {c: dtypes[p] for c, p in columns_of(kind).items()}
    return pl.DataFrame(schema={**schema, ORIGIN: pl.String, LINE: pl.Int64, UNPARSED: pl.String})
