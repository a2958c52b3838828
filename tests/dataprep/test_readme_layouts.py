"""The README's import layouts and DART mapping are the records' own (regenerate:
python -m dataprep.importing)."""

from __future__ import annotations

from pathlib import Path

from dataprep.importing.__main__ import with_tables

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_layout_tables_match_the_formats():
    text = README.read_text()
    assert with_tables(text) == text
