"""Importers: turn third-party policy inventories into policy files.

``coherence import FORMAT FILE --output DIR`` calls :func:`run_import`. Each format is one module
with one entry function that reads the source file and returns the files to write
(:class:`GeneratedFile`), without touching the disk; :func:`run_import` does the writing, so the
rules about overwriting live in one place.

| format | module | produces |
| --- | --- | --- |
| ``csv`` | :mod:`.csv_inventory` | one ``.policy`` file from an inventory spreadsheet |
| ``demig`` | :mod:`.demig` | one policy set (directory) per country of DEMIG POLICY |
| ``impic`` | :mod:`.impic` | one policy set (directory) per country of IMPIC v2 |

Bad input raises :class:`ImportFailure` with the file, line and column of the problem; nothing
else should escape an importer. Output is deterministic: the same input bytes give the same
output bytes (no dates, no machine paths; the header names the input by its file name and its
SHA-256).

Names taken from the data (the input's file name, country codes, ids) never reach a path or a
line of the output unneutralised: comments are made one line (:func:`comment_text`), a file
name keeps no path separator, control character or leading dot (:func:`safe_file_name`), and
:func:`run_import` refuses any generated path that would leave the output directory. It writes
all or nothing, never through a symbolic link (see :func:`run_import`).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Union

PathLike = Union[str, Path]


class ImportFailure(Exception):
    """Bad input to an importer: what is wrong, and where.

    ``file`` is the file the problem is in (the source file, or an output file that already
    exists); ``line`` and ``column`` are 1-based. For a problem with a CSV cell, ``line`` is the
    line the row starts on (the header is line 1) and the message names the column by its header.
    """

    def __init__(self, message: str, file: PathLike, line: int, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file)
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class OutputExists(ImportFailure):
    """An output file exists and ``force`` was not given; ``file`` names it."""


@dataclass(frozen=True)
class GeneratedFile:
    """One file an importer wants written: a path relative to the output directory, and its text."""

    path: PurePosixPath
    text: str


@dataclass(frozen=True)
class CsvRow:
    """A data row of a CSV file: the line it starts on (header = line 1), its 1-based record
    number among the data rows (blank rows are not records), and its cells keyed by column name
    (cells of columns without a name are dropped; they must be empty)."""

    line: int
    record: int
    cells: dict[str, str]


@dataclass(frozen=True)
class CsvTable:
    """A CSV file read for import: the file's name and digest (for the generated header), the
    header as written (trimmed), and the data rows."""

    path: Path
    sha256: str
    header: list[str]
    rows: list[CsvRow]


def read_csv(path: PathLike) -> CsvTable:
    """Read a UTF-8 CSV file with a header row, keeping each row's starting line.

    A UTF-8 byte order mark is accepted. Blank rows are skipped. A row with more non-empty cells
    than the header has columns is an error; missing trailing cells count as empty. Raises
    :class:`ImportFailure` for an unreadable file, bytes that are not UTF-8 (at the line and byte
    column of the first bad byte), malformed quoting, or a missing or duplicated header.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImportFailure(f"cannot read the file: {err.strerror or err}", path, 1) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise ImportFailure(
            f"the file is not UTF-8 (byte 0x{data[err.start]:02x}); save it as UTF-8 and import again",
            path, line, column,
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        offset = text.index("\x00")
        line = text.count("\n", 0, offset) + 1
        raise ImportFailure("the file contains a NUL byte; is it really a CSV file?", path, line)

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[CsvRow] = []
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if header is None:
                header = [cell.strip() for cell in cells]
                _check_header(header, path)
                continue
            if not any(cell.strip() for cell in cells):
                continue
            extra = [cell for cell in cells[len(header):] if cell.strip()]
            if extra:
                raise ImportFailure(
                    f"this row has {len(cells)} cells but the header has {len(header)} columns",
                    path, line,
                )
            padded = list(cells[: len(header)]) + [""] * (len(header) - len(cells))
            named: dict[str, str] = {}
            for position, (name, cell) in enumerate(zip(header, padded), start=1):
                if name:
                    named[name] = cell
                elif cell.strip():
                    raise ImportFailure(
                        f"a value in column {position}, which has no name in the header", path, line
                    )
            rows.append(CsvRow(line=line, record=len(rows) + 1, cells=named))
    except csv.Error as err:
        raise ImportFailure(f"malformed CSV: {err}", path, start) from None
    if header is None:
        raise ImportFailure("the file is empty: expected a header row", path, 1)
    return CsvTable(path=path, sha256=hashlib.sha256(data).hexdigest(), header=header, rows=rows)


def _check_header(header: list[str], path: Path) -> None:
    seen: set[str] = set()
    for name in header:
        if not name:
            continue
        if name in seen:
            raise ImportFailure(f"the header names column '{name}' twice", path, 1)
        seen.add(name)


def require_columns(table: CsvTable, columns: list[str], what: str) -> None:
    """Raise :class:`ImportFailure` at the header line when any of ``columns`` is missing."""
    missing = [name for name in columns if name not in table.header]
    if missing:
        names = ", ".join(f"'{name}'" for name in missing)
        raise ImportFailure(
            f"not {what} file: missing column{'s' if len(missing) > 1 else ''} {names}",
            table.path, 1,
        )


#: Line breaks of every kind (what ``str.splitlines`` splits on) and other control characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def comment_text(text: str) -> str:
    """``text`` fit for one ``# `` comment line: every line break and control character becomes a
    space, so a name taken from the data (``x\\njurisdiction EVIL {}.csv``) cannot start a line
    of the generated file."""
    return _CONTROL.sub(" ", text)


def safe_file_name(text: str, fallback: str) -> str:
    """``text`` as one file name inside the output directory: path separators, NUL and other
    control characters become ``_``, leading dots and blanks are dropped (no hidden file, no
    ``..``); ``fallback`` when nothing is left."""
    name = re.sub(r"[/\\]", "_", _CONTROL.sub("_", text)).lstrip(". \t")
    return name if name and name not in (".", "..") else fallback


def file_header(lines: list[str]) -> str:
    """The comment block every generated file starts with, one ``# `` line per entry."""
    return "".join(f"# {comment_text(line)}".rstrip() + "\n" for line in lines) + "\n"


# ---- countries ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Country:
    """A country as the importers name it: ISO 3166-1 alpha-2 and alpha-3 codes and a short name."""

    iso2: str
    iso3: str
    name: str


# The countries covered by DEMIG POLICY and IMPIC, and their neighbours in OECD data sets.
_COUNTRY_TABLE = """
AR ARG Argentina
AU AUS Australia
AT AUT Austria
BE BEL Belgium
BR BRA Brazil
BG BGR Bulgaria
CA CAN Canada
CL CHL Chile
CN CHN China
CO COL Colombia
HR HRV Croatia
CY CYP Cyprus
CZ CZE Czech Republic
DK DNK Denmark
EG EGY Egypt
EE EST Estonia
FI FIN Finland
FR FRA France
DE DEU Germany
GR GRC Greece
HU HUN Hungary
IS ISL Iceland
IN IND India
ID IDN Indonesia
IE IRL Ireland
IL ISR Israel
IT ITA Italy
JP JPN Japan
KR KOR South Korea
LV LVA Latvia
LT LTU Lithuania
LU LUX Luxembourg
MY MYS Malaysia
MT MLT Malta
MX MEX Mexico
MA MAR Morocco
NL NLD Netherlands
NZ NZL New Zealand
NO NOR Norway
PH PHL Philippines
PL POL Poland
PT PRT Portugal
RO ROU Romania
RU RUS Russia
SK SVK Slovakia
SI SVN Slovenia
ZA ZAF South Africa
ES ESP Spain
SE SWE Sweden
CH CHE Switzerland
TN TUN Tunisia
TR TUR Turkey
UA UKR Ukraine
GB GBR United Kingdom
US USA United States
"""

COUNTRIES: tuple[Country, ...] = tuple(
    Country(*line.split(" ", 2)) for line in _COUNTRY_TABLE.strip().splitlines()
)

# Other spellings found in data sets, lower case.
_COUNTRY_ALIASES = {
    "czechia": "CZ",
    "korea": "KR",
    "republic of korea": "KR",
    "korea, republic of": "KR",
    "russian federation": "RU",
    "slovak republic": "SK",
    "türkiye": "TR",
    "turkiye": "TR",
    "uk": "GB",
    "great britain": "GB",
    "united states of america": "US",
    "usa": "US",
    "the netherlands": "NL",
    "holland": "NL",
}

_BY_ISO2 = {country.iso2: country for country in COUNTRIES}
_BY_ISO3 = {country.iso3: country for country in COUNTRIES}
_BY_NAME = {country.name.lower(): country for country in COUNTRIES}
_BY_NAME.update({alias: _BY_ISO2[iso2] for alias, iso2 in _COUNTRY_ALIASES.items()})


def find_country(text: str) -> Country | None:
    """The country named by ``text``: an English name, an ISO alpha-2 or alpha-3 code (any case)."""
    key = text.strip()
    return _BY_ISO2.get(key.upper()) or _BY_ISO3.get(key.upper()) or _BY_NAME.get(key.lower())


def jurisdiction_file(jurisdiction_id: str, name: str, iso3: str | None, header: list[str]) -> GeneratedFile:
    """``<ID>/jurisdiction.policy``: the country's ``jurisdiction`` fact, in a file of its own so
    that policy sets imported from two data sets for the same country can be checked together by
    keeping one copy of it."""
    fields = ["  level: national\n"]
    if iso3:
        fields.append(f'  iso3: "{iso3}"\n')
    text = file_header(header) + f'jurisdiction {jurisdiction_id} "{name}" {{\n' + "".join(fields) + "}\n"
    return GeneratedFile(PurePosixPath(jurisdiction_id, "jurisdiction.policy"), text)


# ---- running an import -----------------------------------------------------------------------

Importer = Callable[[Path], list[GeneratedFile]]

# Imported here, after the names the format modules use are defined.
from . import csv_inventory, demig, impic  # noqa: E402

FORMATS: dict[str, Importer] = {
    "csv": csv_inventory.import_inventory,
    "demig": demig.import_demig,
    "impic": impic.import_impic,
}


def run_import(fmt: str, file: PathLike, output_dir: PathLike, force: bool = False) -> list[Path]:
    """Import ``file`` in format ``fmt`` into ``output_dir``; return the files written, sorted.

    ``output_dir`` is created when missing. An existing output file is only replaced when
    ``force`` is true; otherwise nothing at all is written and :class:`OutputExists` names the
    first such file. Files from an earlier import that this one does not produce are left alone.

    Writes are confined to ``output_dir`` and are all or nothing: every file is first written to
    a new private staging directory (in the output directory's parent when the output directory
    is new, which is then renamed into place in one step; else inside the output directory,
    hidden), every target is checked, and only then are the files moved into place; a failure
    while moving puts back what was there. A generated path that would leave the directory, and
    a symbolic link (or anything but a directory) in the way of a target, even with ``force``,
    are an :class:`ImportFailure` naming the path; nothing is written through a link.
    """
    source = Path(file)
    try:
        importer = FORMATS[fmt]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise ImportFailure(f"unknown import format '{fmt}' (known formats: {known})", source, 1) from None
    generated = importer(source)

    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ImportFailure("the output path exists and is not a directory", out, 1)
    items = sorted((_relative_parts(item.path, out), item.text) for item in generated)
    if len({parts for parts, _ in items}) != len(items):
        raise ImportFailure("the import produces the same file twice", out, 1)
    existing = _check_targets(out, [parts for parts, _ in items], force)
    new_dir = not out.exists()
    try:
        if new_dir:
            out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".coherence-import-", dir=out.parent if new_dir else out))
    except OSError as err:
        raise ImportFailure(f"cannot write the output directory: {err.strerror or err}", out, 1) from None
    try:
        return _stage_and_move(out, staging, items, existing, new_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _relative_parts(path: PurePosixPath, out: Path) -> tuple[str, ...]:
    """The parts of a generated path, each a plain name: nothing absolute, no ``..``, no hidden
    file, no separator or control character (an importer's bug, or a name from the data that got
    through, is a failure rather than a write outside ``out``)."""
    parts = path.parts
    if not parts or path.is_absolute() or any(
            p in ("", ".", "..") or p.startswith(".") or _CONTROL.search(p) or "/" in p or "\\" in p
            for p in parts):
        raise ImportFailure(f"refusing to write '{comment_text(str(path))}': not a plain path inside the "
                            "output directory", out, 1)
    return parts


def _check_targets(out: Path, targets: list[tuple[str, ...]], force: bool) -> set[tuple[str, ...]]:
    """The targets that exist (regular files, replaced only with ``force``). A symbolic link, or
    anything but a directory, in the way of a target (at the output directory's own entries or
    below) is refused even with ``force``; without it an existing file is :class:`OutputExists`."""
    existing: set[tuple[str, ...]] = set()
    for parts in targets:
        for depth in range(1, len(parts) + 1):
            path = out.joinpath(*parts[:depth])
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                break
            except OSError as err:
                raise ImportFailure(f"cannot use the output path: {err.strerror or err}", path, 1) from None
            last = depth == len(parts)
            if stat.S_ISLNK(st.st_mode):
                raise ImportFailure("the output path is a symbolic link; the import never writes through one "
                                    "(remove it, or choose another output directory)", path, 1)
            if not last and not stat.S_ISDIR(st.st_mode):
                raise ImportFailure("the output path exists and is not a directory", path, 1)
            if last:
                if not stat.S_ISREG(st.st_mode):
                    raise ImportFailure("the output path exists and is not a regular file", path, 1)
                if not force:
                    raise OutputExists("the output file already exists; use --force to overwrite it", path, 1)
                existing.add(parts)
    return existing


def _stage_and_move(out: Path, staging: Path, items: list, existing: set, new_dir: bool) -> list[Path]:
    from ..files import WriteError, write_text_atomically

    files = staging / "new"
    for parts, text in items:
        target = files.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomically(target, text)
        except WriteError as err:
            raise ImportFailure(err.message, out.joinpath(*parts), 1) from None
        except OSError as err:
            raise ImportFailure(f"cannot write the file: {err.strerror or err}", out.joinpath(*parts), 1) from None
    written = [out.joinpath(*parts) for parts, _ in items]
    if new_dir:  # one rename puts the whole import in place
        try:
            os.rename(files, out)
        except OSError as err:
            if err.errno in (errno.EEXIST, errno.ENOTEMPTY):  # created meanwhile: refuse, write nothing
                raise ImportFailure("the output directory appeared during the import; run it again", out, 1) from None
            raise ImportFailure(f"cannot write the output directory: {err.strerror or err}", out, 1) from None
        return written
    done: list[tuple[Path, Path | None]] = []  # (target, where its previous file was put aside)
    made: list[Path] = []  # directories this import created, innermost last
    old = staging / "old"
    try:
        for parts, _ in items:
            target = out.joinpath(*parts)
            for depth in range(1, len(parts)):
                d = out.joinpath(*parts[:depth])
                if not os.path.lexists(d):
                    os.mkdir(d)
                    made.append(d)
                elif os.path.islink(d) or not d.is_dir():  # changed since the check
                    raise ImportFailure("the output path is a symbolic link or not a directory", d, 1)
            backup = None
            if parts in existing:
                if os.path.islink(target):
                    raise ImportFailure("the output path is a symbolic link; the import never writes through "
                                        "one", target, 1)
                backup = old.joinpath(*parts)
                backup.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(files.joinpath(*parts), stat.S_IMODE(os.lstat(target).st_mode))
                os.replace(target, backup)
            done.append((target, backup))
            os.replace(files.joinpath(*parts), target)
    except (OSError, ImportFailure) as err:
        for target, backup in reversed(done):  # put back what was there
            try:
                if backup is not None and os.path.lexists(backup):
                    os.replace(backup, target)
                elif backup is None:
                    os.unlink(target)
            except OSError:
                pass
        for d in reversed(made):
            try:
                os.rmdir(d)
            except OSError:
                pass
        if isinstance(err, ImportFailure):
            raise
        raise ImportFailure(f"cannot write the file: {err.strerror or err}; nothing was written",
                            getattr(err, "filename", None) or out, 1) from None
    return written
