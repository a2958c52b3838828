"""The README's factor table is the catalog's own (regenerate: python -m dataprep.factors)."""

from __future__ import annotations

from pathlib import Path

from dataprep.factors.__main__ import with_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_factor_table_matches_the_catalog():
    text = README.read_text()
    assert with_table(text) == text
