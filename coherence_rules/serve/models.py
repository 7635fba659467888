"""The documents that cross the boundary of ``coherence serve``, as pydantic models.

Two kinds live here:

* the published ``coherence-report/1`` document (:class:`CoherenceReport`), modelled on
  :meth:`coherence_rules.findings.report.Report.to_dict` exactly as it is today. Every model of it
  forbids unknown fields, so when the report grows a field or changes a type, the test that
  validates real reports against this model fails and points here: update this section (it is
  the only place the report's shape is written down for validation) and regenerate
  ``docs/schemas`` with ``python -m coherence_rules.serve.models docs/schemas``;
* the requests and responses of the local API (``POST /api/check``, ``GET /api/files``, ...).

The JSON Schemas in ``docs/schemas/`` are generated from these models by :func:`schema_documents`
(a test checks that the shipped files are what it generates). The report itself is never
re-serialised through the model: ``POST /api/check`` returns ``Report.to_json()`` byte for byte,
the same bytes as ``coherence check --format json``.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REPORT_SCHEMA_FILE = "coherence-report-1.json"
API_SCHEMA_FILE = "serve-api.json"


class _Exact(BaseModel):
    """A model that refuses unknown fields and converts nothing (a string is never a number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# =============================================================================== coherence-report/1
# One class per object of docs/report-format.md, in the order of Report.to_dict().

Score = Annotated[int, Field(ge=-3, le=3, description="score on the seven-point scale")]
Label = Literal["cancelling", "counteracting", "constraining", "consistent", "enabling", "reinforcing", "indivisible"]
Count = Annotated[int, Field(ge=0)]
Line = Annotated[int, Field(ge=1)]


class Tool(_Exact):
    """The program that wrote the document."""

    name: Literal["coherence"]
    version: str


class RulesetEntry(_Exact):
    """A ruleset the run used (the built-in schema is not listed)."""

    name: str
    title: str
    version: str


class Jurisdiction(_Exact):
    """A jurisdiction written in the policy set."""

    id: str
    title: str
    level: Optional[str]


class PolicySet(_Exact):
    """What the policy set is: the title of its README or first heading (null when it has none)
    and its jurisdictions, the highest level first."""

    title: Optional[str]
    jurisdictions: list[Jurisdiction]


class Location(_Exact):
    """Where a fact, criterion or accept starts: ``file`` as given on the command line (``/``
    separators) or ``coherence_rules/rulesets/NAME.rules`` for a built-in ruleset."""

    file: str
    line: Line
    column: Line


class ByScore(_Exact):
    """Findings per score: all seven keys, always."""

    m3: Count = Field(alias="-3")
    m2: Count = Field(alias="-2")
    m1: Count = Field(alias="-1")
    zero: Count = Field(alias="0")
    p1: Count = Field(alias="1")
    p2: Count = Field(alias="2")
    p3: Count = Field(alias="3")


class Summary(_Exact):
    """Counts of the run and the coherence index."""

    facts: Count
    derived_facts: Count
    criteria_run: Count
    findings: Count
    open: Count
    accepted: Count
    expired: Count
    conflicts: Count
    synergies: Count
    contested_synergies: Count = Field(description="synergies left out of the coherence index (`contested_by`)")
    by_score: ByScore
    by_dimension: dict[str, Count]
    coherence_index: Optional[Annotated[float, Field(ge=-1, le=1)]] = Field(
        description="in [-1, 1]; null when there are no findings")
    coherence_index_formula: str


class MatrixInstrument(_Exact):
    """An instrument (or agreement) of the matrix."""

    id: str
    title: str


class MatrixCell(_Exact):
    """The findings between instruments ``a`` and ``b`` (``a == b``: within one instrument)."""

    a: str
    b: str
    worst: Score
    best: Score
    count: Annotated[int, Field(ge=1)]
    findings: list[str] = Field(description="fingerprints")


class Matrix(_Exact):
    """The instrument-by-instrument interaction matrix."""

    instruments: list[MatrixInstrument]
    cells: list[MatrixCell]


class FrameworkTarget(_Exact):
    """An SDG target or GCM objective the set's objectives and measures name (``sdg``, ``gcm``)."""

    id: str = Field(description="SDG-10.7, GCM-18")
    framework: str = Field(description="SDG or GCM")
    title: str
    facts: list[str] = Field(description="the written facts that name it")
    findings: list[str] = Field(description="fingerprints of the findings that involve one of those facts")
    worst: Optional[Score]
    best: Optional[Score]


class FrameworkInteraction(_Exact):
    """The findings between a fact serving target ``a`` and another fact serving ``b``."""

    a: str
    b: str
    findings: list[str] = Field(description="fingerprints")
    worst: Optional[Score]
    best: Optional[Score]


class Frameworks(_Exact):
    """The view by global framework: the targets the set serves, and their interactions."""

    targets: list[FrameworkTarget]
    interactions: list[FrameworkInteraction]


class Acceptance(_Exact):
    """The ``accept`` statement that covers a finding."""

    reason: str
    until: Optional[dt.date]
    location: Optional[Location]


class FactDetail(_Exact):
    """A written fact a finding rests on."""

    id: str
    type: str
    title: Optional[str]
    location: Optional[Location]
    cite: Optional[str]
    instrument: Optional[str]


class ProofNode(_Exact):
    """A node of a finding's proof tree (see docs/report-format.md, ``trace``)."""

    kind: Literal["criterion", "fact", "reference", "derived", "derivation", "absent", "exists"]
    id: Optional[str]
    type: Optional[str]
    location: Optional[Location]
    cite: Optional[str]
    rule: Optional[str]
    text: Optional[str]
    children: list["ProofNode"]


class Finding(_Exact):
    """A criterion that fired on a set of facts."""

    fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    criterion: str
    title: str
    score: Score
    label: Label
    dimension: str
    dimension_label: str = Field(description="the dimension as people read it (its label)")
    message: str
    advice: str
    status: Literal["open", "accepted", "expired"]
    acceptance: Optional[Acceptance]
    facts: list[str]
    fact_details: list[FactDetail]
    instruments: list[str]
    location: Optional[Location]
    trace: ProofNode
    contested_by: list[str] = Field(description="for a synergy: fingerprints of the conflicts of score -2 or worse "
                                             "on one of its facts, which keep it out of the coherence index")


class AcceptEntry(_Exact):
    """An ``accept`` statement of the set and what it applied to."""

    criterion: str
    ids: list[str]
    reason: str
    until: Optional[dt.date]
    location: Optional[Location]
    status: Literal["applied", "expired", "stale", "invalid"]


class DiagnosticLabel(_Exact):
    """A secondary location of a diagnostic."""

    file: str
    line: Line
    column: Line
    end_line: Line
    end_column: Line
    message: str


class Diagnostic(_Exact):
    """A diagnostic of any stage (docs/diagnostics.md); the location is null for a diagnostic
    that has none (an unknown ruleset, a missing path)."""

    code: str
    severity: Literal["error", "warning"]
    message: str
    file: Optional[str]
    line: Optional[Line]
    column: Optional[Line]
    end_line: Optional[Line]
    end_column: Optional[Line]
    labels: list[DiagnosticLabel]
    notes: list[str]
    help: Optional[str]


class CoherenceReport(_Exact):
    """The ``coherence-report/1`` document: what ``coherence check --format json`` writes and
    ``POST /api/check`` returns."""

    model_config = ConfigDict(extra="forbid", strict=True, title="coherence-report/1")

    schema_: Literal["coherence-report/1"] = Field(alias="schema")
    tool: Tool
    as_of: dt.date
    rulesets: list[RulesetEntry]
    policy_set: PolicySet
    inputs: list[str]
    references: list[str] = Field(description="the files of the reference facts that joined the set (--with)")
    summary: Summary
    matrix: Matrix
    frameworks: Frameworks
    findings: list[Finding]
    accepts: list[AcceptEntry]
    diagnostics: list[Diagnostic]


def validate_report(text: str) -> CoherenceReport:
    """Validate a ``coherence-report/1`` JSON text against :class:`CoherenceReport` (raises
    ``pydantic.ValidationError`` when it does not follow the model)."""
    return CoherenceReport.model_validate_json(text, strict=True)


# =============================================================================== the local API

FileName = Annotated[str, Field(
    description="a path relative to the served directory, with `/` separators, ending in .policy, .rules, .md "
                "or .csv; no `..`, `.` or hidden components, no backslash, NUL or control character")]
Version = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$",
                               description="`sha256:` and the SHA-256 of the file's bytes on disk")]
Word = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$", max_length=200)]


class CheckRequest(_Exact):
    """``POST /api/check``: check exactly these texts (plus the server's ``--with`` sets)."""

    files: dict[FileName, str] = Field(description="file name -> the file's text (the editor's buffers)")
    rulesets: Optional[list[str]] = Field(
        default=None, description="shipped ruleset names, or rulesets the server was started with; "
                                  "default: the server's (`--ruleset`, else core)")
    as_of: Optional[dt.date] = Field(default=None, description="reference date; default: the server's --as-of, "
                                                               "else today")


class FileEntry(_Exact):
    """A source file of the served directory."""

    name: FileName
    kind: Literal["policy", "rules", "markdown", "csv"]
    text: Optional[str] = Field(description="the text (a byte order mark dropped); null when it cannot be edited")
    version: Version
    size: Count = Field(description="bytes on disk")
    problem: Optional[str] = Field(description="why the file cannot be edited here (not UTF-8, too large), or null")


class FilesResponse(_Exact):
    """``GET /api/files``: the served policy set and how the server checks it."""

    directory: str = Field(description="the served directory, as given to `coherence serve`")
    files: list[FileEntry]
    rulesets: Optional[list[str]] = Field(description="the server's rulesets (null: the default, core)")
    available_rulesets: list[str]
    with_paths: list[str] = Field(description="the --with reference sets every check joins")
    as_of: Optional[dt.date] = Field(description="the server's --as-of (null: today)")
    max_body: Count = Field(description="the largest request body the server reads, in bytes")


class SaveRequest(_Exact):
    """``PUT /api/files/{name}``: the new text, and the version the editor loaded (null: the file
    must not exist yet)."""

    text: str
    version: Optional[Version]


class SaveResponse(_Exact):
    """A file written: its new version."""

    name: FileName
    version: Version
    size: Count


class AcceptRequest(_Exact):
    """``POST /api/accept``: record an accepted trade-off for a finding in ``file`` (a .policy
    file, or a Markdown file, where it becomes a new fenced `policy` block)."""

    file: FileName
    version: Optional[Version] = Field(description="the version the editor loaded (null: create the file)")
    criterion: Word
    ids: Annotated[list[Word], Field(min_length=1, max_length=100)]
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="one line of text")]
    until: Optional[dt.date] = None


class AcceptResponse(_Exact):
    """The statement appended and the file's new text and version."""

    name: FileName
    version: Version
    size: Count
    statement: str = Field(description="the `accept` statement as written")
    appended: str = Field(description="exactly the text appended to the file")
    text: str = Field(description="the file's new text")


class ErrorIssue(_Exact):
    """One problem of a request that does not follow its model."""

    loc: str
    message: str


class ErrorResponse(_Exact):
    """Every 4xx and 5xx answer of the API."""

    error: str = Field(description="a short code: bad_host, cross_origin, invalid_json, invalid_request, "
                                   "not_utf8, too_large, bad_name, outside, not_found, stale_version, ...")
    message: str
    issues: Optional[list[ErrorIssue]] = None
    current_version: Optional[Version] = Field(
        default=None, description="with stale_version: the version on disk now (null: the file is gone)")


class SchemaResponse(BaseModel):
    """``GET /api/schema``: the JSON Schemas of the API and of the report."""

    model_config = ConfigDict(extra="forbid")

    api: dict[str, Any]
    report: dict[str, Any]


#: The API's models, in the order docs/serve.md describes them.
API_MODELS: tuple[type[BaseModel], ...] = (CheckRequest, FilesResponse, FileEntry, SaveRequest, SaveResponse,
                                           AcceptRequest, AcceptResponse, ErrorResponse, ErrorIssue, SchemaResponse)


# =============================================================================== schema documents


def report_schema() -> dict:
    """The JSON Schema of ``coherence-report/1``."""
    schema = CoherenceReport.model_json_schema(mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": "coherence-report/1", **schema}


def api_schema() -> dict:
    """The JSON Schemas of the API's requests and responses, one ``$defs`` entry per model (the
    check endpoint's response is ``coherence-report/1``, whose schema is published apart)."""
    _, defs = models_json_schema([(m, "validation") for m in API_MODELS], title="coherence serve API")
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": "coherence-serve-api", **defs}


def schema_documents() -> dict[str, str]:
    """File name -> text of every schema shipped in ``docs/schemas`` (what the test compares with
    the shipped files)."""
    return {REPORT_SCHEMA_FILE: _dump(report_schema()), API_SCHEMA_FILE: _dump(api_schema())}


def write_schemas(directory: Path) -> list[Path]:
    """Write :func:`schema_documents` into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_documents().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _dump(doc: dict) -> str:
    from ..jsontext import dumps

    return dumps(doc) + "\n"


if __name__ == "__main__":  # pragma: no cover - `python -m coherence_rules.serve.models docs/schemas`
    for p in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(p)
