"""Machine and tabular formats of ``coherence check``: table (tabulate), CSV (one row per finding),
Markdown, and SARIF 2.1.0 (criterion code as ``ruleId``)."""

from __future__ import annotations

import csv
import io

from .. import __version__
from ..findings.report import Report, dump_json
from . import signed

CSV_COLUMNS = ["fingerprint", "criterion", "title", "score", "label", "dimension", "status", "file", "line",
               "facts", "instruments", "message", "advice", "accepted_until", "accepted_reason"]


def _csv_safe(value: str) -> str:
    """Cells that a spreadsheet would read as a formula are prefixed with an apostrophe."""
    if value and value[0] in "=+-@\t\r" and not _is_number(value):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


def render_csv(report: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for f in report.findings:
        w.writerow(csv_row(f.to_dict()))
    return buf.getvalue()


def csv_row(f: dict) -> list[str]:
    """One finding, in its JSON form, as the cells of :data:`CSV_COLUMNS`, each made safe for
    spreadsheets."""
    loc = f.get("location")
    acc = f.get("acceptance") or {}
    row = [f["fingerprint"], f["criterion"], f["title"], str(f["score"]), f["label"], f["dimension"], f["status"],
           loc["file"] if loc else "", str(loc["line"]) if loc else "", ";".join(f["facts"]),
           ";".join(f["instruments"]), f["message"], f["advice"], acc.get("until") or "", acc.get("reason") or ""]
    return [_csv_safe(c) for c in row]


def render_table(report: Report) -> str:
    from tabulate import tabulate

    from .text import summary_line

    rows = []
    for f in report.findings:
        loc = f"{f.location.file}:{f.location.line}" if f.location else ""
        rows.append([f.criterion, signed(f.score), f.dimension, f.status, ", ".join(f.facts), loc, f.message])
    table = tabulate(rows, headers=["criterion", "score", "dimension", "status", "facts", "location", "message"],
                     tablefmt="simple", maxcolwidths=[None, None, None, None, 30, 40, 60])
    return table + "\n\n" + summary_line(report) + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(report: Report) -> str:
    from .text import summary_line

    s = report.summary()
    lines = ["# Coherence report", "", f"Reference date: {report.as_of.isoformat()}. " + _md(summary_line(report)) + ".",
             "", "| criterion | score | dimension | status | facts | location | message |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for f in report.findings:
        loc = f"{f.location.file}:{f.location.line}" if f.location else ""
        lines.append(f"| {_md(f.criterion)} | {signed(f.score)} {f.label} | {f.dimension} | {f.status} | "
                     f"{_md(', '.join(f.facts))} | {_md(loc)} | {_md(f.message)} |")
    lines += ["", "## Findings", ""]
    for f in report.findings:
        lines += [f"### {_md(f.criterion)}: {_md(f.title)}", "", _md(f.message), "", f"*Advice:* {_md(f.advice)}", ""]
        for d in f.fact_details:
            loc = f" ({d['location']['file']}:{d['location']['line']})" if d["location"] else ""
            cite = f", {_md(d['cite'])}" if d["cite"] else ""
            lines.append(f"- `{_md(d['id'])}` {_md(d['title'] or '')}{_md(loc)}{cite}")
        lines.append("")
    if s["coherence_index"] is not None:
        lines += ["", f"Coherence index: {s['coherence_index']:+.2f}. {s['coherence_index_formula']}", ""]
    return "\n".join(lines).rstrip() + "\n"


_SARIF_LEVEL = {-3: "error", -2: "error", -1: "warning", 0: "note", 1: "note", 2: "note", 3: "note"}


def render_sarif(report: Report) -> str:
    rules = {}
    results = []
    for f in report.findings:
        if f.criterion not in rules:
            rules[f.criterion] = {
                "id": f.criterion, "name": f.criterion, "shortDescription": {"text": f.title},
                "properties": {"score": f.score, "label": f.label, "dimension": f.dimension},
            }
        loc = f.location
        result = {
            "ruleId": f.criterion,
            "level": _SARIF_LEVEL[f.score],
            "message": {"text": f.message},
            "partialFingerprints": {"coherenceFingerprint/v1": f.fingerprint},
            "properties": {"score": f.score, "status": f.status, "facts": f.facts, "advice": f.advice},
        }
        if f.status == "accepted":
            result["suppressions"] = [{"kind": "external", "justification": f.acceptance.reason if f.acceptance else ""}]
        if loc is not None:
            result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": loc.file},
                                                         "region": {"startLine": loc.line, "startColumn": loc.column}}}]
        related = []
        for i, d in enumerate(f.fact_details):
            if d["location"]:
                related.append({"id": i, "message": {"text": d["id"]},
                                "physicalLocation": {"artifactLocation": {"uri": d["location"]["file"]},
                                                     "region": {"startLine": d["location"]["line"]}}})
        if related:
            result["relatedLocations"] = related
        results.append(result)
    for d in report.diagnostics:
        results.append({
            "ruleId": d.code, "level": "error" if d.is_error else "warning", "message": {"text": d.message},
            **({"locations": [{"physicalLocation": {"artifactLocation": {"uri": d.span.file},
                                                    "region": {"startLine": d.span.line, "startColumn": d.span.column}}}]}
               if d.span else {}),
        })
        rules.setdefault(d.code, {"id": d.code, "name": d.code, "shortDescription": {"text": d.message}})
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "coherence", "version": __version__,
                                "rules": [rules[k] for k in sorted(rules)]}},
            "results": results,
        }],
    }
    return dump_json(doc)
