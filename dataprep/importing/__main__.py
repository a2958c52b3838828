"""`python -m dataprep.importing`: write the import layouts (and DART's item mapping) into
README.md, between their markers."""

from __future__ import annotations

import sys
from pathlib import Path

from dataprep.importing.formats import COLUMNS, FORMATS

START, END = "<!-- layouts:start -->", "<!-- layouts:end -->"
OPTION = {"stocks": "--stocks", "prices": "--prices", "shares": "--shares",
          "delistings": "--delistings", "financials": "--financials", "indexes": "--indexes",
          "status": "--status"}


def layouts_table() -> str:
    lines = ["| option | layout (`--format`) | what | headers it reads (any case) |",
             "| --- | --- | --- | --- |"]
    for fmt in FORMATS:
        if fmt.name == "dart":
            headers = "재무제표종류, 종목코드, 결산기준일, 보고서종류, 항목코드, 당기 ..."
        elif fmt.name == "qbt":
            headers = "the table's own column names"
        else:
            headers = "; ".join(
                f"{target}: {' / '.join(aliases[:4])}"
                for target, (_, aliases) in COLUMNS[fmt.kind].items()
                if target in fmt.detect
            )
        lines.append(f"| `{OPTION[fmt.kind]}` | `{fmt.name}` | {fmt.description} | {headers} |")
    return "\n".join(lines)


def dart_table() -> str:
    from dataprep.importing.dart import DART_ITEMS

    lines = ["| QBT item | DART / IFRS XBRL item ids, first found wins |", "| --- | --- |"]
    for item, ids in DART_ITEMS.items():
        lines.append(f"| `{item}` | {', '.join(f'`{i}`' for i in ids) or 'not in the files'} |")
    return "\n".join(lines)


def with_tables(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{layouts_table()}\n\n{dart_table()}\n{END}{tail}"


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("README.md")
    path.write_text(with_tables(path.read_text()))
