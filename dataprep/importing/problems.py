"""What an import found: errors (nothing is written while there is one), warnings (written,
but worth a look) and the defaults it applied, each counted.

Every problem names its file, the line (CSV; the header is line 1) or row (Parquet), the
column and the value. A rule that fails on many rows is one entry with its count and its
first rows, so one run reports every problem of every file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

SHOWN = 20  # problems shown in the error message; the total is counted


@dataclass(frozen=True)
class Problem:
    file: str
    where: str | None  # "line 9" / "row 8" / None for the whole file
    column: str | None
    message: str
    value: str | None = None

    def __str__(self) -> str:
        place = ", ".join(p for p in (self.file, self.where) if p)
        if self.column:
            place += f", column '{self.column}'"
        got = f" (got {self.value})" if self.value is not None else ""
        return f"{place}: {self.message}{got}"


class ImportValidationError(ValueError):
    """Bad input: the message lists the first problems and counts them all."""

    def __init__(self, problems: list[Problem], *, total: int | None = None) -> None:
        self.problems, self.total = problems, total if total is not None else len(problems)
        shown = "; ".join(str(p) for p in problems[:SHOWN])
        more = f" (and {self.total - SHOWN} more)" if self.total > SHOWN else ""
        head = f"{self.total} problem{'s' if self.total != 1 else ''}: " if self.total > 1 else ""
        super().__init__(f"{head}{shown}{more}; nothing was written")


@dataclass
class Findings:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    n_errors: int = 0
    n_warnings: int = 0
    defaults: dict[str, int] = field(default_factory=dict)  # what was assumed -> rows

    def error(self, problem: Problem, *, count: int = 1) -> None:
        self.errors.append(problem)
        self.n_errors += count

    def warn(self, problem: Problem, *, count: int = 1) -> None:
        self.warnings.append(problem)
        self.n_warnings += count

    def default(self, what: str, rows: int) -> None:
        """A standard default applied to `rows` rows (said, never silent)."""
        if rows:
            self.defaults[what] = self.defaults.get(what, 0) + rows

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ImportValidationError(self.errors, total=self.n_errors)

    def lines(self) -> list[str]:
        """One line per default and per warning, for the CLI."""
        out = [f"default: {what}: {rows:,} rows" for what, rows in self.defaults.items()]
        for warning in self.warnings[:SHOWN]:
            out.append(f"warning: {warning}")
        if self.n_warnings > SHOWN:
            out.append(f"warning: ... {self.n_warnings - SHOWN:,} more")
        return out


ORIGIN = "__file"  # every frame carries where each row came from: the file's name, and
LINE = "__line"  # its line (CSV, the header is line 1) or row (Parquet) number


UNPARSED = "__unparsed"  # the columns of the row whose cells did not parse (reported once)


def missing(column: str) -> pl.Expr:
    """The cell is empty, and not because it failed to parse (already reported)."""
    return pl.col(column).is_null() & ~pl.col(UNPARSED).fill_null("").str.contains(column)


def place(origin: str, number: int) -> str:
    return f"{'row' if origin.endswith('.parquet') else 'line'} {number}"


def check(
    findings: Findings,
    frame: pl.DataFrame,
    bad: pl.Expr,
    *,
    column: str | None,
    message: str,
    warning: bool = False,
    show: tuple[str, ...] = (),
) -> int:
    """Record the rows of `frame` where `bad` holds (null counts as fine) as one problem per
    file, with the first rows of each; answers how many rows failed."""
    hits = frame.filter(bad.fill_null(False))
    if hits.height == 0:
        return 0
    cells = show or ((column,) if column else ())
    for (origin,), rows in hits.group_by(ORIGIN, maintain_order=True):
        lines = [place(str(origin), n) for n in rows[LINE].head(5).to_list()]
        first = rows.row(0, named=True)
        value = ", ".join(f"{name}={_text(first.get(name))}" for name in cells) or None
        where = ", ".join(lines) + (f" and {rows.height - 5:,} more" if rows.height > 5 else "")
        problem = Problem(str(origin), where, column, message, value)
        (findings.warn if warning else findings.error)(problem, count=rows.height)
    return hits.height


def _text(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)
