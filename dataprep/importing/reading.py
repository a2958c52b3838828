"""Read input files as users have them, into frames of text cells.

- paths: a file, a folder (its .csv, .tsv, .txt, .parquet, .zip files, and those ending .gz),
  or a glob (`prices/*.csv.gz`);
- compression: gzip (by its magic bytes, whatever the name), zip archives (each member);
- encoding: UTF-8 (with or without BOM), else cp949 (EUC-KR, as KRX, KIND and DART write);
- delimiter: the one of `,` `\\t` `;` `|` the header line uses most;
- Parquet: read as typed columns, then every column as text (one parsing path for both).

Each frame carries its origin (`problems.ORIGIN`) and line number (`problems.LINE`).
"""

from __future__ import annotations

import glob
import gzip
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dataprep.importing.problems import LINE, ORIGIN, ImportValidationError, Problem

SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".zip")
DELIMITERS = (",", "\t", ";", "|")


@dataclass(frozen=True, eq=False)
class RawFile:
    """One input file (or zip member): its name as shown to the user, and its cells."""

    name: str
    frame: pl.DataFrame  # every column text, plus ORIGIN and LINE

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if c not in (ORIGIN, LINE)]


def expand(spec: str | Path) -> list[Path]:
    """The files a command-line argument names (a file, a folder or a glob), sorted."""
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if _readable_name(p.name))
        if not found:
            raise _refused(text, f"the folder holds no {', '.join(SUFFIXES)} files")
        return found
    if path.exists():
        return [path]
    if any(ch in text for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not found:
            raise _refused(text, "no file matches the pattern")
        return found
    raise _refused(text, "no such file or folder")


def _readable_name(name: str) -> bool:
    lower = name.lower().removesuffix(".gz")
    return lower.endswith(SUFFIXES)


def _refused(name: str, message: str) -> ImportValidationError:
    return ImportValidationError([Problem(name, None, None, message)])


def read(path: Path) -> list[RawFile]:
    """The tables in one file (a zip archive holds several)."""
    if path.suffix.lower() in (".xlsx", ".xls"):
        raise _refused(str(path), "Excel workbooks are not read: save the sheet as CSV "
                                  "(UTF-8 or cp949) or Parquet")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise _refused(str(path), f"cannot read it: {err.strerror or err}") from None
    return read_bytes(str(path), data)


def read_bytes(name: str, data: bytes) -> list[RawFile]:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise _refused(name, f"a damaged gzip file: {err}") from None
        name_inside = name.removesuffix(".gz")
    else:
        name_inside = name
    if data[:4] == b"PK\x03\x04":
        return _read_zip(name, data)
    if data[:4] == b"PAR1":
        return [_read_parquet(name_inside, data)]
    return [_read_text(name_inside, data)]


def _read_zip(name: str, data: bytes) -> list[RawFile]:
    tables = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in sorted(archive.namelist()):
            if member.endswith("/") or not _readable_name(member):
                continue
            member_name = _zip_member_name(member, archive.getinfo(member))
            tables += read_bytes(f"{name}!{member_name}", archive.read(member))
    if not tables:
        raise _refused(name, "the zip archive holds no readable file")
    return tables


def _zip_member_name(member: str, info: zipfile.ZipInfo) -> str:
    """Zip member names without the UTF-8 flag are cp437 to Python; Korean tools write cp949."""
    if info.flag_bits & 0x800:
        return member
    try:
        return member.encode("cp437").decode("cp949")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return member


def _read_parquet(name: str, data: bytes) -> RawFile:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except pl.exceptions.PolarsError as err:
        raise _refused(name, f"not a readable Parquet file: {err}") from None
    text = frame.select(_as_text(frame[c]).alias(str(c)) for c in frame.columns)
    return RawFile(name, _with_origin(text, name, first=1))


def _as_text(series: pl.Series) -> pl.Series:
    if series.dtype == pl.Datetime:
        series = series.cast(pl.Date)
    return series.cast(pl.String)


def decode(name: str, data: bytes) -> str:
    """UTF-8 (BOM dropped), else cp949; an error names the first bad line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8:
        try:
            return data.decode("cp949")
        except UnicodeDecodeError:
            line = data[: utf8.start].count(b"\n") + 1
            raise ImportValidationError([Problem(
                name, f"line {line}", None,
                f"the text is neither UTF-8 nor cp949 (EUC-KR): byte 0x{data[utf8.start]:02x} "
                "cannot be read; save the file as UTF-8",
            )]) from None


def _read_text(name: str, data: bytes) -> RawFile:
    text = decode(name, data)
    header, _, rest = text.partition("\n")
    delimiter = max(DELIMITERS, key=header.count)
    if not header.strip():
        raise _refused(name, "the file is empty (no header line)")
    second = rest.split("\n", 1)[0].rstrip("\r")
    if second.endswith(delimiter) and not header.rstrip("\r").endswith(delimiter):
        # data lines end with the delimiter and the header does not (DART's bulk files):
        # give the header the same empty last field, dropped below like any unnamed one
        text = header.rstrip("\r") + delimiter + "\n" + rest
    try:
        frame = pl.read_csv(
            io.StringIO(text), separator=delimiter, infer_schema=False,
            truncate_ragged_lines=False, raise_if_empty=False,
        )
    except pl.exceptions.PolarsError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _refused(name, f"not a readable table: {first}") from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    if "" in frame.columns or any(c.startswith("_duplicated_") for c in frame.columns):
        unnamed = [c for c in frame.columns if not c or c.startswith("_duplicated_")]
        frame = frame.drop(unnamed)  # a leading index column without a header
    return RawFile(name, _with_origin(frame, name, first=2))


def _with_origin(frame: pl.DataFrame, name: str, *, first: int) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(name).alias(ORIGIN), (pl.int_range(pl.len()) + first).alias(LINE)
    )
