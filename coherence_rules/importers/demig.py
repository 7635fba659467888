"""``coherence import demig``: DEMIG POLICY into one policy set per country.

DEMIG POLICY (International Migration Institute, University of Oxford; version 1.3, 2015) codes
each migration policy change of a country as one record. The importer reads a CSV export of it
with one row per record and a ``Country`` column (the country workbooks merged; the column names
are DEMIG's own) and writes, for each country, a directory named after the country's ISO alpha-3
code holding

- ``jurisdiction.policy``: ``jurisdiction DEU "Germany" { level: national  iso3: "DEU" }``;
- ``demig.policy``: one ``policy_change`` fact per record, typed by ``rulesets/demig.rules``.

Each fact cites the data set and the record (``...; record N``, N the 1-based record number in
the CSV) and has a comment with the CSV line the record starts on. Ids are the country's alpha-2
code, the year and a three-digit sequence number within that country and year, in file order
(``DE.1913.001``). Text values are trimmed, line breaks inside them become spaces, and DEMIG's
``N/A`` (and empty cells) leave the field out. See ``docs/importers.md`` for the field mapping.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path, PurePosixPath

from . import (Country, CsvRow, CsvTable, GeneratedFile, ImportFailure, file_header, find_country,
               jurisdiction_file, read_csv, require_columns)
from .csv_inventory import quote, render_fact

DATASET = "DEMIG POLICY, version 1.3 (International Migration Institute, University of Oxford)"
CITATION = "DEMIG (2015) DEMIG POLICY, version 1.3, Online Edition"

# DEMIG column -> policy_change field, in the order the fields are written (after `country` and
# `year`). Every one is a trimmed string except `Restrictiveness`, which maps to an enum member.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Policy area", "area"),
    ("Policy tool", "tool"),
    ("Target group", "group"),
    ("Target origin", "origin"),
    ("Specific nationalities", "nationalities"),
    ("Magnitude", "magnitude"),
    ("Restrictiveness", "restrictiveness"),
    ("Level of legislation", "level"),
    ("Summary", "summary"),
    ("Description", "description"),
    ("Source", "source"),
)
REQUIRED_COLUMNS = ["Country", "Year", "Summary", "Policy area", "Policy tool", "Target group",
                    "Target origin", "Magnitude", "Restrictiveness"]

# DEMIG "Restrictiveness" (lower case) -> member of the `restrictiveness` enum.
RESTRICTIVENESS = {
    "more restrictive": "more",
    "less restrictive": "less",
    "no change": "no_change",
    "no change in restrictiveness": "no_change",
    "change in restrictiveness cannot be assessed": "not_assessable",
    "cannot be assessed": "not_assessable",
}

_YEAR = re.compile(r"[0-9]{4}")


def _value(row: CsvRow, column: str) -> str | None:
    """A trimmed cell; None for an empty cell, DEMIG's ``N/A`` or a column the file lacks."""
    text = row.cells.get(column, "").strip()
    if not text or text.upper() == "N/A":
        return None
    return text


def import_demig(path: Path) -> list[GeneratedFile]:
    """Convert a DEMIG POLICY CSV into ``<ISO3>/jurisdiction.policy`` and ``<ISO3>/demig.policy``
    per country, countries in order of their alpha-3 code."""
    table = read_csv(path)
    require_columns(table, REQUIRED_COLUMNS, "a DEMIG POLICY")
    header = [
        f"{DATASET}",
        f"Citation: {CITATION}",
        f"Input: {table.path.name} (sha256 {table.sha256})",
        f"Produced by: coherence import demig {table.path.name}",
    ]
    facts: dict[str, list[str]] = {}
    countries: dict[str, Country] = {}
    sequence: Counter[tuple[str, int]] = Counter()
    for row in table.rows:
        country = _country(table, row)
        year = _year(table, row)
        sequence[(country.iso2, year)] += 1
        fact_id = f"{country.iso2}.{year}.{sequence[(country.iso2, year)]:03d}"
        countries[country.iso3] = country
        facts.setdefault(country.iso3, []).append(_fact(table, row, fact_id, country, year))

    files: list[GeneratedFile] = []
    for iso3 in sorted(countries):
        country = countries[iso3]
        files.append(jurisdiction_file(iso3, country.name, iso3, header))
        text = file_header(header + [
            f"{len(facts[iso3])} policy changes of {country.name}; types: rulesets/demig.rules",
            f"Check with: coherence check {iso3} --ruleset demig",
        ]) + "".join(facts[iso3])
        files.append(GeneratedFile(PurePosixPath(iso3, "demig.policy"), text))
    return files


def _country(table: CsvTable, row: CsvRow) -> Country:
    name = row.cells["Country"].strip()
    if not name:
        raise ImportFailure("the 'Country' cell is empty", table.path, row.line)
    country = find_country(name)
    if country is None:
        raise ImportFailure(
            f"unknown country '{name}' in column 'Country' (use an English country name or an "
            "ISO 3166 alpha-2 or alpha-3 code)", table.path, row.line,
        )
    return country


def _year(table: CsvTable, row: CsvRow) -> int:
    text = row.cells["Year"].strip()
    if not _YEAR.fullmatch(text):
        raise ImportFailure(f"'{text}' in column 'Year' is not a year", table.path, row.line)
    return int(text)


def _fact(table: CsvTable, row: CsvRow, fact_id: str, country: Country, year: int) -> str:
    summary = _value(row, "Summary")
    fields: list[tuple[str, str]] = [("country", country.iso3), ("year", str(year))]
    for column, name in COLUMNS:
        text = _value(row, column)
        if text is None:
            continue
        if name == "restrictiveness":
            fields.append((name, _restrictiveness(table, row, text)))
        else:
            fields.append((name, quote(text)))
    fields.append(("cite", quote(f"{CITATION}; record {row.record}")))
    comment = f"record {row.record}, {table.path.name} line {row.line}"
    return render_fact("policy_change", fact_id, summary, fields, [comment])


def _restrictiveness(table: CsvTable, row: CsvRow, text: str) -> str:
    member = RESTRICTIVENESS.get(" ".join(text.lower().split()))
    if member is None:
        known = "; ".join(f"'{key}'" for key in RESTRICTIVENESS)
        raise ImportFailure(
            f"unknown value '{text}' in column 'Restrictiveness' (known: {known}; 'N/A' leaves "
            "the field out)", table.path, row.line,
        )
    return member
