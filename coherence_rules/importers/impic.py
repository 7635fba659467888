"""``coherence import impic``: IMPIC v2 into one policy set per country.

IMPIC (Immigration Policies in Comparison; Helbling, Bjerre, Römer and Zobel) scores the
immigration policies of 33 OECD countries from 1980 to 2018 on a scale from 0 (open, liberal) to
1 (restrictive). The data set has one row per country (``cntry``, ISO alpha-2 in lower case) and
year (``year``) and one column per variable. The importer keeps the aggregate indices listed in
:data:`INDICES` (their labels are the codebook's) and writes, for each country, a directory named
after the country's ISO alpha-3 code holding

- ``jurisdiction.policy``: the country's ``jurisdiction`` fact;
- ``impic.policy``: one ``impic_index`` fact per year and index with a value, and one
  ``impic_change`` fact per index and pair of consecutive years whose values differ by at least
  :data:`CHANGE_THRESHOLD` (the language has no arithmetic, so criteria compare these).

Empty cells (Stata's missing values) and negative values (IMPIC's missing-value codes) are
skipped; a change is only computed between two consecutive years that both have a value. Each
fact cites the data set, the row (the N-th data row of the CSV, i.e. Stata observation N, on line
N + 1) and the variable. Types: ``rulesets/impic.rules``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath

from . import (CsvTable, GeneratedFile, ImportFailure, file_header, find_country,
               jurisdiction_file, read_csv, require_columns)
from .csv_inventory import quote, render_fact

DATASET = "IMPIC v2, Immigration Policies in Comparison, 1980-2018"
SHORT_CITATION = "IMPIC v2 (Helbling, Bjerre, Römer, Zobel), 1980-2018"
CITATION = ("Helbling, M., Bjerre, L., Römer, F. and Zobel, M. (2017) Measuring immigration "
            "policies: the IMPIC database. European Political Science 16(1): 79-98; "
            "data set version 2, 1980-2018")


@dataclass(frozen=True)
class Index:
    """An IMPIC variable the importer keeps: its name, the codebook's label, and the policy field
    it measures (a member of the ``impic_field`` enum in ``rulesets/impic.rules``)."""

    variable: str
    label: str
    policy_field: str


# The aggregate indices of IMPIC v2. Fields A-D of the codebook are the four policy fields
# (A family reunification, B labour migration, C asylum and refugees, D co-ethnics: the items
# AvgS_a*, AvgS_b*, AvgS_c*, AvgS_d* feed them); "Regulations" averages the external (eligibility,
# conditions) and internal (security of status, rights) regulations of a field; "Controls" covers
# the control mechanisms (items AvgS_e*); "Immigration Policy" averages the available fields and
# controls.
INDICES: tuple[Index, ...] = (
    Index("AvgS_Reg_A", "Index Regulations Field A", "family_reunification"),
    Index("AvgS_Reg_B", "Index Regulations Field B", "labour_migration"),
    Index("AvgS_Reg_C", "Index Regulations Field C", "asylum"),
    Index("AvgS_Reg_D", "Index Regulations Field D", "co_ethnics"),
    Index("AvgS_ExtCont", "Index External Controls", "controls"),
    Index("AvgS_IntCont", "Index Internal Controls", "controls"),
    Index("AvgS_Cont", "Index Controls", "controls"),
    Index("AvgS_ImmPol", "Index Immigration Policy", "overall"),
)

# A year-over-year change is written as an `impic_change` fact when its absolute size, rounded to
# DELTA_PLACES decimal places, is at least this much. The rounding removes the single-precision
# noise of the published values (0.4647321403026581), so a change of 0.05 is not missed as
# 0.04999999.
CHANGE_THRESHOLD = Decimal("0.05")
DELTA_PLACES = 6

_MISSING = {"", ".", "na", "nan"}
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_YEAR = re.compile(r"[0-9]{4}")


@dataclass(frozen=True)
class _Observation:
    row: int
    line: int
    value: Decimal
    text: str


@dataclass
class _Country:
    code: str
    jurisdiction: str
    name: str
    iso3: str | None


def import_impic(path: Path) -> list[GeneratedFile]:
    """Convert an IMPIC v2 CSV into ``<ISO3>/jurisdiction.policy`` and ``<ISO3>/impic.policy`` per
    country code, in order of the directory name."""
    table = read_csv(path)
    require_columns(table, ["cntry", "year"] + [index.variable for index in INDICES], "an IMPIC")
    countries: dict[str, _Country] = {}
    seen: dict[tuple[str, int], int] = {}
    data: dict[tuple[str, str], dict[int, _Observation]] = defaultdict(dict)
    for row in table.rows:
        code = row.cells["cntry"].strip()
        if not _CODE.fullmatch(code):
            raise ImportFailure(f"'{code}' in column 'cntry' is not a country code", table.path, row.line)
        year_text = row.cells["year"].strip()
        if not _YEAR.fullmatch(year_text):
            raise ImportFailure(f"'{year_text}' in column 'year' is not a year", table.path, row.line)
        year = int(year_text)
        if (code, year) in seen:
            raise ImportFailure(
                f"a second row for country '{code}' and year {year} (the first is on line "
                f"{seen[(code, year)]})", table.path, row.line,
            )
        seen[(code, year)] = row.line
        country = countries.get(code) or countries.setdefault(code, _country(code))
        for index in INDICES:
            value = _number(table, row.cells[index.variable], index.variable, row.line)
            if value is not None:
                data[(country.jurisdiction, index.variable)][year] = _Observation(
                    row.record, row.line, value, _decimal_text(value))

    if len({c.jurisdiction for c in countries.values()}) != len(countries):
        raise ImportFailure("two country codes map to the same country", table.path, 1)

    header = [
        DATASET,
        f"Citation: {CITATION}",
        f"Input: {table.path.name} (sha256 {table.sha256})",
        f"Produced by: coherence import impic {table.path.name}",
    ]
    files: list[GeneratedFile] = []
    for country in sorted(countries.values(), key=lambda c: c.jurisdiction):
        files.append(jurisdiction_file(country.jurisdiction, country.name, country.iso3, header))
        files.append(_country_file(table, country, data, header))
    return files


def _country(code: str) -> _Country:
    country = find_country(code) if len(code) == 2 else None
    if country is None:
        # Not an ISO 3166 code (IMPIC v2 has `ed` and `er`): kept as it is, upper-cased.
        return _Country(code, code.upper(), f"IMPIC country code '{code}'", None)
    return _Country(code, country.iso3, country.name, country.iso3)


def _number(table: CsvTable, text: str, column: str, line: int) -> Decimal | None:
    text = text.strip()
    if text.lower() in _MISSING:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise ImportFailure(f"'{text}' in column '{column}' is not a number", table.path, line)
    if value < 0:
        return None
    return abs(value)  # turns -0.0 into 0.0


def _decimal_text(value: Decimal) -> str:
    """A decimal in the language's number syntax: plain digits, never an exponent."""
    return format(value, "f")


def _country_file(table: CsvTable, country: _Country, data, header: list[str]) -> GeneratedFile:
    name = table.path.name
    parts: list[str] = []
    counts = [0, 0]
    for index in INDICES:
        series = data.get((country.jurisdiction, index.variable), {})
        if not series:
            continue
        parts.append(f"# ---- {index.variable}: {index.label} ({index.policy_field.replace('_', ' ')})\n\n")
        for year in sorted(series):
            obs = series[year]
            counts[0] += 1
            parts.append(render_fact("impic_index", f"{country.code.upper()}.{year}.{index.variable}", None, [
                ("country", country.jurisdiction),
                ("year", str(year)),
                ("index", quote(index.variable)),
                ("name", quote(index.label)),
                ("policy_field", index.policy_field),
                ("value", obs.text),
                ("cite", quote(f"{SHORT_CITATION}; row {obs.row}, variable {index.variable}")),
            ], [f"{name} line {obs.line}"]))
        for year in sorted(series):
            before, after = series.get(year - 1), series[year]
            if before is None:
                continue
            delta = abs(after.value - before.value).quantize(Decimal(1).scaleb(-DELTA_PLACES))
            if delta < CHANGE_THRESHOLD:
                continue
            counts[1] += 1
            parts.append(render_fact(
                "impic_change", f"{country.code.upper()}.{year - 1}-{year}.{index.variable}", None, [
                    ("country", country.jurisdiction),
                    ("index", quote(index.variable)),
                    ("name", quote(index.label)),
                    ("policy_field", index.policy_field),
                    ("year", str(year)),
                    ("from_year", str(year - 1)),
                    ("from_value", before.text),
                    ("to_value", after.text),
                    ("direction", "increase" if after.value > before.value else "decrease"),
                    ("delta", _decimal_text(delta.normalize())),
                    ("cite", quote(f"{SHORT_CITATION}; rows {before.row} and {after.row}, "
                                   f"variable {index.variable}")),
                ], [f"{name} lines {before.line} and {after.line}"]))
    text = file_header(header + [
        f"{country.name}: {counts[0]} index values, {counts[1]} year-over-year changes of at least "
        f"{CHANGE_THRESHOLD}; types: rulesets/impic.rules",
        "Values are restrictiveness: 0 = open (liberal), 1 = restrictive; direction increase = "
        "more restrictive.",
        f"Check with: coherence check {country.jurisdiction} --ruleset impic",
    ]) + "".join(parts)
    return GeneratedFile(PurePosixPath(country.jurisdiction, "impic.policy"), text)
