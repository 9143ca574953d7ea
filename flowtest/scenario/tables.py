"""``examples: PATH``: data tables in ``.csv``, ``.yaml``/``.yml`` or ``.json`` files, one test per row.

A table is read once per run however many scenarios use it. Every problem is one
SourceError at the table's ``path:line:column``, charged to the scenarios using it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowtest.errors import Location, SourceError
from flowtest.yamlsource import load_documents, read_text

_DELIMITERS = (",", ";", "\t")

Row = Mapping[str, Any]


def read_table(path: Path, display: str) -> tuple[Row, ...]:
    """The rows of a table file; raises SourceError at the line at fault."""
    return tuple(row for row, _ in read_located_table(path, display))


def read_located_table(path: Path, display: str) -> tuple[tuple[Row, Location], ...]:
    """The rows of a table file, each with the line it starts on (a failure names it)."""
    text = read_text(path, display).removeprefix("\ufeff")  # Excel writes a BOM before UTF-8 CSV
    rows = _csv_rows(text, display) if path.suffix.lower() == ".csv" else _yaml_rows(text, display)
    if not rows:
        raise SourceError(Location(display, 1, 1), "the table has no rows")
    _check_ids(rows, display)
    return tuple((row, Location(display, line, 1)) for row, line in rows)


def _csv_rows(text: str, display: str) -> list[tuple[Row, int]]:
    first = text.split("\n", 1)[0]
    # Spreadsheets export with the locale's separator: the header line tells which one.
    delimiter = max(_DELIMITERS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[Row, int]] = []
    header: list[str] | None = None
    line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, and the empty line a trailing newline leaves
            if header is None:
                header = _header(cells, display, start)
                continue
            if len(cells) != len(header):
                raise SourceError(
                    Location(display, start, 1),
                    f"this row has {len(cells)} value(s), the header has {len(header)}"
                    + (f" (the cells are separated by {delimiter!r})" if delimiter != "," else ""),
                )
            rows.append((dict(zip(header, cells, strict=True)), start))
    except csv.Error as exc:
        raise SourceError(Location(display, reader.line_num, 1), f"invalid CSV: {exc}") from None
    if header is None:
        raise SourceError(Location(display, 1, 1), "the table is empty: the first line names the columns")
    return rows


def _header(cells: list[str], display: str, line: int) -> list[str]:
    header = [cell.strip() for cell in cells]
    for column, name in enumerate(header, start=1):
        if not name:
            raise SourceError(Location(display, line, 1), f"column {column} of the header has no name")
        if header.index(name) != column - 1:
            raise SourceError(Location(display, line, 1), f"the header names column '{name}' twice")
    return header


def _yaml_rows(text: str, display: str) -> list[tuple[Row, int]]:
    documents = load_documents(text, display)  # JSON is YAML: one reader, with line numbers
    if len(documents) != 1 or not isinstance(documents[0].data, list):
        where = documents[0].location() if documents else Location(display, 1, 1)
        raise SourceError(where, "a table file holds one list of rows (mappings of name: value)")
    document = documents[0]
    rows: list[tuple[Row, int]] = []
    for index, row in enumerate(document.data):
        location = document.location((index,))
        if not isinstance(row, dict) or not row:
            raise SourceError(location, f"row {index + 1} is not a mapping of name: value")
        rows.append((row, location.line))
    return rows


def _check_ids(rows: list[tuple[Row, int]], display: str) -> None:
    seen: dict[str, int] = {}
    for row, line in rows:
        if "id" not in row:
            continue
        row_id = row["id"]
        if not isinstance(row_id, (str, int, float)) or isinstance(row_id, bool) or str(row_id) == "":
            raise SourceError(Location(display, line, 1), "the id of a row is text or a number")
        if str(row_id) in seen:
            raise SourceError(
                Location(display, line, 1),
                f"id '{row_id}' is already used by the row at line {seen[str(row_id)]}",
            )
        seen[str(row_id)] = line
