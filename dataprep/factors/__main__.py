"""`python -m dataprep.factors`: write the factor catalog table into README.md."""

from __future__ import annotations

import sys
from pathlib import Path

from dataprep.factors import markdown_table

START, END = "<!-- factors:start -->", "<!-- factors:end -->"


def with_table(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{markdown_table().rstrip()}\n{END}{tail}"


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("README.md")
    path.write_text(with_table(path.read_text()))
