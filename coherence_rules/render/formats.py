"""Machine and tabular formats of ``coherence check``: table (tabulate), CSV (one row per finding),
Markdown, and SARIF 2.1.0 (criterion code as ``ruleId``)."""

from __future__ import annotations

import csv
import io

from .. import __version__
from ..findings.report import Report, dump_json
from . import signed
from .escape import csv_cell, markdown_code, terminal, uri
from .escape import markdown as _md

CSV_COLUMNS = ["fingerprint", "criterion", "title", "score", "label", "dimension", "status", "file", "line",
               "facts", "instruments", "message", "advice", "accepted_until", "accepted_reason"]


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
    return [csv_cell(c) for c in row]


def render_table(report: Report) -> str:
    from tabulate import tabulate

    from .text import summary_line

    rows = []
    for f in report.findings:
        loc = f"{f.location.file}:{f.location.line}" if f.location else ""
        rows.append([f.criterion, signed(f.score), f.dimension_label or f.dimension, f.status, ", ".join(f.facts), loc, f.message])
    table = tabulate(rows, headers=["criterion", "score", "dimension", "status", "facts", "location", "message"],
                     tablefmt="simple", maxcolwidths=[None, None, None, None, 30, 40, 60])
    return terminal(table + "\n\n" + summary_line(report) + "\n")


def render_markdown(report: Report) -> str:
    from .text import summary_line

    s = report.summary()
    lines = ["# Coherence report", "", f"Reference date: {report.as_of.isoformat()}. " + _md(summary_line(report)) + ".",
             "", "| criterion | score | dimension | status | facts | location | message |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for f in report.findings:
        loc = f"{f.location.file}:{f.location.line}" if f.location else ""
        lines.append(f"| {_md(f.criterion)} | {signed(f.score)} {f.label} | {_md(f.dimension_label or f.dimension)} | {f.status} | "
                     f"{_md(', '.join(f.facts))} | {_md(loc)} | {_md(f.message)} |")
    lines += ["", "## Findings", ""]
    for f in report.findings:
        lines += [f"### {_md(f.criterion)}: {_md(f.title)}", "", _md(f.message), "", f"*Advice:* {_md(f.advice)}", ""]
        for d in f.fact_details:
            loc = f" ({d['location']['file']}:{d['location']['line']})" if d["location"] else ""
            cite = f", {_md(d['cite'])}" if d["cite"] else ""
            lines.append(f"- {markdown_code(d['id'])} {_md(d['title'] or '')}{_md(loc)}{cite}")
        lines.append("")
    lines += _framework_markdown(report)
    if s["coherence_index"] is not None:
        lines += ["", f"Coherence index {s['coherence_index']:+.2f}: {s['coherence_index_formula']}", ""]
    return terminal("\n".join(lines).rstrip() + "\n")


def _framework_markdown(report: Report) -> list[str]:
    """The view by global framework, when the set names SDG targets or GCM objectives."""
    view = report.frameworks()
    if not view["targets"]:
        return []
    codes = {f.fingerprint: f"{f.criterion} ({signed(f.score)})" for f in report.findings}
    names = {f.fingerprint: f.criterion for f in report.findings}
    lines = ["## Global frameworks", "", "| target | served by | findings |", "| --- | --- | --- |"]
    for t in view["targets"]:
        found = ", ".join(_md(codes[fp]) for fp in t["findings"] if fp in codes) or "none"
        lines.append(f"| {_md(t['id'])} {_md(t['title'])} | {_md(', '.join(t['facts']))} | {found} |")
    if view["interactions"]:
        lines += ["", "Between targets (worst and best score of the findings between their facts):", ""]
        for c in view["interactions"]:
            pair = f"{c['a']}, between two facts serving it" if c["a"] == c["b"] else f"{c['a']} and {c['b']}"
            span = signed(c["worst"]) if c["worst"] == c["best"] else f"{signed(c['worst'])} to {signed(c['best'])}"
            found = ", ".join(sorted({_md(names[fp]) for fp in c["findings"] if fp in names}))
            lines.append(f"- {_md(pair)}: {span} ({found})")
    return lines


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
            result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": uri(loc.file)},
                                                         "region": {"startLine": loc.line, "startColumn": loc.column}}}]
        related = []
        for i, d in enumerate(f.fact_details):
            if d["location"]:
                related.append({"id": i, "message": {"text": d["id"]},
                                "physicalLocation": {"artifactLocation": {"uri": uri(d["location"]["file"])},
                                                     "region": {"startLine": d["location"]["line"]}}})
        if related:
            result["relatedLocations"] = related
        results.append(result)
    for d in report.diagnostics:
        results.append({
            "ruleId": d.code, "level": "error" if d.is_error else "warning", "message": {"text": d.message},
            **({"locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(d.span.file)},
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
