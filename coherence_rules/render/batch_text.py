"""Text, table, CSV and Markdown renderings of the ``coherence-batch/1``, ``coherence-compare/2``
and ``coherence-diff/1`` documents. Every function takes the document (a dict) and returns text
ending in a newline; the same document gives the same bytes."""

from __future__ import annotations

import csv
import io

from . import plural, signed
from .escape import csv_cell, markdown_code, terminal
from .escape import markdown as _md
from .formats import CSV_COLUMNS, csv_row


def _loc(f: dict) -> str:
    loc = f.get("location")
    return f"{loc['file']}:{loc['line']}" if loc else ""


def _diag_line(d: dict) -> str:
    where = f"{d['file']}:{d['line']}:{d['column']}: " if d.get("file") and d.get("line") else (
        f"{d['file']}: " if d.get("file") else "")
    return f"{d['severity']}[{d['code']}]: {where}{d['message']}"


# ---- batch ------------------------------------------------------------------------------------------------------


def _batch_columns(doc: dict) -> list[str]:
    used = {code for row in doc["matrix"] for code in row["cells"]}
    return [c for c in doc["criteria"] if c in used]


def _cell(cell: dict | None) -> str:
    return f"{cell['count']} ({signed(cell['worst'])})" if cell else ""


def batch_summary_line(doc: dict) -> str:
    s = doc["summary"]
    if not s["findings"]:
        return f"{plural(s['sets'], 'policy set')} ({s['ok']} ok, {s['failed']} failed): no findings"
    return (f"{plural(s['sets'], 'policy set')} ({s['ok']} ok, {s['failed']} failed): "
            f"{plural(s['findings'], 'finding')}, {plural(s['conflicts'], 'conflict')} "
            f"({s['open']} open, {s['accepted']} accepted, {s['expired']} expired), "
            f"{plural(s['synergies'], 'synergy', 'synergies')}")


def render_batch_table(doc: dict) -> str:
    """The sets x criteria matrix (cells: count and worst score), then each set's findings."""
    from tabulate import tabulate

    cols = _batch_columns(doc)
    rows = []
    for row, s in zip(doc["matrix"], doc["sets"]):
        rows.append([row["set"], s["status"], len(s["findings"])] + [_cell(row["cells"].get(c)) for c in cols])
    out = [tabulate(rows, headers=["set", "status", "findings"] + cols, tablefmt="simple", disable_numparse=True)
           if rows else "no policy sets"]
    for s in doc["sets"]:
        if not s["findings"] and not any(d["severity"] == "error" for d in s["diagnostics"]):
            continue
        out += ["", f"== {s['name']} ({s['status']}, {plural(len(s['findings']), 'finding')})"]
        if s["findings"]:
            frows = [[f["criterion"], signed(f["score"]), f["status"], ", ".join(f["facts"]), _loc(f), f["message"]]
                     for f in s["findings"]]
            out.append(tabulate(frows, headers=["criterion", "score", "status", "facts", "location", "message"],
                                tablefmt="simple", disable_numparse=True, maxcolwidths=[None, None, None, 30, 40, 60]))
        for d in s["diagnostics"]:
            if d["severity"] == "error":
                out.append("  " + _diag_line(d))
    out += ["", batch_summary_line(doc)]
    return "\n".join(out) + "\n"


def render_batch_csv(doc: dict) -> str:
    """One row per finding, with the set's name first."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["set"] + CSV_COLUMNS)
    for s in doc["sets"]:
        for f in s["findings"]:
            w.writerow([csv_cell(s["name"])] + csv_row(f))
    return buf.getvalue()


def render_batch_markdown(doc: dict) -> str:
    cols = _batch_columns(doc)
    lines = ["# Coherence batch results", "", f"Reference date: {doc['as_of']}. {_md(batch_summary_line(doc))}.", "",
             "| set | status | findings |" + "".join(f" {_md(c)} |" for c in cols),
             "| --- | --- | --- |" + " --- |" * len(cols)]
    for row, s in zip(doc["matrix"], doc["sets"]):
        lines.append(f"| {_md(s['name'])} | {s['status']} | {len(s['findings'])} |"
                     + "".join(f" {_cell(row['cells'].get(c))} |" for c in cols))
    for s in doc["sets"]:
        lines += ["", f"## {_md(s['name'])}", ""]
        if s["status"] == "failed":
            lines += ["This policy set could not be checked:", ""]
            lines += [f"- {_md(_diag_line(d))}" for d in s["diagnostics"] if d["severity"] == "error"]
            continue
        if not s["findings"]:
            lines.append("No findings.")
            continue
        lines += ["| criterion | score | status | facts | location | message |", "| --- | --- | --- | --- | --- | --- |"]
        for f in s["findings"]:
            lines.append(f"| {_md(f['criterion'])} | {signed(f['score'])} {f['label']} | {f['status']} | "
                         f"{_md(', '.join(f['facts']))} | {_md(_loc(f))} | {_md(f['message'])} |")
    return "\n".join(lines).rstrip() + "\n"


# ---- compare ----------------------------------------------------------------------------------------------------
#
# The ``coherence-compare/2`` document: sides topic by topic. Positions are lined up and marked
# "differing positions" where they are not the same; prose is shown side by side and never
# called different (two wordings of one rule are not a clash).


def _side_title(side: dict) -> str:
    """``policies/x (NL-TR-1964, bilateral_labour, signed 1964-08-19)``."""
    ags = side.get("agreements") or []
    if len(ags) == 1:
        a = ags[0]
        bits = [a["id"]] + [b for b in (a.get("kind"), f"signed {a['signed']}" if a.get("signed") else None) if b]
        return f"{side['name']} ({', '.join(bits)})"
    if ags:
        return f"{side['name']} ({', '.join(a['id'] for a in ags)})"
    return side["name"]


def _side_column(side: dict) -> str:
    """A side's short name for a column header: its label and its agreement (or its path)."""
    ags = side.get("agreements") or []
    return f"{side['label']}: {ags[0]['id'] if len(ags) == 1 else side['name']}"


def _clause_head(c: dict, several: bool) -> str:
    """``Art. 11(2)-(3) [employer_pays]`` (with the agreement when a side holds several, and
    ``law of NLD`` for a law)."""
    cite = c["cite"] or c["id"]
    if c["type"] == "law":
        cite = f"law of {c['jurisdiction']}" + (f", {c['cite']}" if c["cite"] else "")
    elif several and c.get("agreement"):
        cite = f"{c['agreement']} {cite}"
    return cite + (f" [{c['position']}]" if c.get("position") else "")


def _several(doc: dict) -> dict[str, bool]:
    return {s["label"]: len(s.get("agreements") or []) > 1 for s in doc["sides"]}


def _topic_status(doc: dict, r: dict) -> str:
    """The status as a heading says it: ``differing positions (A: employer_pays; B: state_pays)``."""
    if r["status"] == "side by side":
        return "side by side"
    return f"{r['status']} (" + "; ".join(f"{k}: {', '.join(v)}" for k, v in r["positions"].items()) + ")"


def compare_summary_line(doc: dict) -> str:
    """How many topics, and how many of them with differing positions, the same positions, or
    prose side by side."""
    s = doc["summary"]
    line = (f"{plural(s['topics'], 'topic')}: {s['differing_positions']} with differing positions, "
            f"{s['same_positions']} with the same positions, {s['side_by_side']} side by side")
    if s["missing_everywhere"]:
        line += f"; {plural(s['missing_everywhere'], 'checklist topic')} covered by none"
    return line


def _compare_head(doc: dict) -> list[str]:
    what = "against the model" if doc.get("against") else "side by side"
    out = [f"Comparing {plural(len(doc['sides']), 'policy set')} {what}, topic by topic "
           f"(reference date {doc['as_of']})"]
    out += [f"{s['label']}: {_side_title(s)}" for s in doc["sides"]]
    return out + [compare_summary_line(doc)]


def _missing_lines(doc: dict) -> list[str]:
    return [f"{m['label']} ({m['topic']})" + (f": {'; '.join(m['cites'])}" if m["cites"] else "")
            for m in doc["missing_everywhere"]]


def _side_findings_text(side: dict) -> list[str]:
    out = [f"findings of {side['label']} ({side['name']}): {len(side['findings'])}"]
    for f in side["findings"]:
        out.append(f"  {f['criterion']} [{', '.join(f['facts'])}] {signed(f['score'])} {f['status']}: {f['message']}")
    return out


def render_compare_text(doc: dict) -> str:
    """The sides, then topic by topic each side's clauses in article order (citation, position,
    title, the article's words), then the checklist topics none covers, then each side's findings."""
    import textwrap

    several = _several(doc)
    out = _compare_head(doc)
    for r in doc["topics"]:
        out += ["", f"== {r['label']} ({r['topic']}): {_topic_status(doc, r)}"]
        vs = r.get("against_model", {})
        for s in doc["sides"]:
            label = s["label"]
            note = f"  ({vs[label]})" if label in vs else ""
            clauses = r["clauses"].get(label)
            if not clauses:
                out.append(f"  {label}: nothing on this topic{note}")
                continue
            out.append(f"  {label}:{note}")
            for c in clauses:
                out += textwrap.wrap(f"{_clause_head(c, several[label])}  {c['title']}".rstrip(), 100,
                                     initial_indent="    ", subsequent_indent="      ")
                if c.get("text"):
                    out += textwrap.wrap(f"« {c['text']} »", 100, initial_indent="      ",
                                         subsequent_indent="      ")
    if doc["missing_everywhere"]:
        out += ["", "checklist topics none of them covers:"] + [f"  {line}" for line in _missing_lines(doc)]
    for s in doc["sides"]:
        out += [""] + _side_findings_text(s)
    return "\n".join(out) + "\n"


def _table_cell(clauses: list[dict] | None, several: bool) -> str:
    if not clauses:
        return "-"
    return "\n\n".join(f"{_clause_head(c, several)}\n{c['title']}" + (f"\n« {c['text']} »" if c.get("text") else "")
                       for c in clauses)


def render_compare_table(doc: dict) -> str:
    """One row per topic, one column per side (its clauses: citation, position, title, words),
    then the checklist topics none covers and each side's findings."""
    from tabulate import tabulate

    several = _several(doc)
    sides = doc["sides"]
    width = max(24, (120 - 40) // max(len(sides), 1))
    rows = []
    for r in doc["topics"]:
        vs = r.get("against_model", {})
        rows.append([r["label"], _topic_status(doc, r).replace(" (", "\n(", 1)]
                    + [_table_cell(r["clauses"].get(s["label"]), several[s["label"]])
                       + (f"\n({vs[s['label']]})" if s["label"] in vs else "") for s in sides])
    out = _compare_head(doc) + [""]
    out.append(tabulate(rows, headers=["topic", ""] + [_side_column(s) for s in sides], tablefmt="grid",
                        disable_numparse=True, maxcolwidths=[20, 20] + [width] * len(sides))
               if rows else "no clause or law facts on any side")
    if doc["missing_everywhere"]:
        out += ["", "checklist topics none of them covers:"] + [f"  {line}" for line in _missing_lines(doc)]
    for s in sides:
        out += ["", f"findings of {s['label']} ({s['name']}): {len(s['findings'])}"]
        if s["findings"]:
            out.append(tabulate([[f["criterion"], signed(f["score"]), f["status"], ", ".join(f["facts"]), f["message"]]
                                 for f in s["findings"]],
                                headers=["criterion", "score", "status", "facts", "message"], tablefmt="simple",
                                disable_numparse=True, maxcolwidths=[None, None, None, 30, 60]))
    return "\n".join(out) + "\n"


def _md_cell(clauses: list[dict] | None, several: bool) -> str:
    if not clauses:
        return "–"
    parts = []
    for c in clauses:
        head = _clause_head(c, several)
        cite, _, position = head.partition(" [")
        text = f"**{_md(cite)}**" + (f" {markdown_code(position.rstrip(']'), in_table=True)}" if position else "") + f" {_md(c['title'])}"
        if c.get("text"):
            text += f"<br>« {_md(c['text'])} »"
        parts.append(text)
    return "<br><br>".join(parts)


def render_compare_markdown(doc: dict) -> str:
    """The sides, one table row per topic with a column per side, the checklist topics none
    covers, and each side's findings."""
    several = _several(doc)
    sides = doc["sides"]
    lines = [f"# Comparison of {plural(len(sides), 'policy set')}" + (" against a model" if doc.get("against") else ""),
             "", f"Reference date: {doc['as_of']}. {_md(compare_summary_line(doc))}. Positions are compared; prose "
             f"is shown side by side and not compared.", "", "| | policy set |", "| --- | --- |"]
    lines += [f"| {s['label']} | {_md(_side_title(s))} |" for s in sides]
    lines += ["", "| topic | | " + " | ".join(_md(_side_column(s)) for s in sides) + " |",
              "|" + " --- |" * (2 + len(sides))]
    for r in doc["topics"]:
        vs = r.get("against_model", {})
        status = f"**{r['status']}**" if r["status"] != "side by side" else "side by side"
        cells = [_md_cell(r["clauses"].get(s["label"]), several[s["label"]])
                 + (f"<br>*{_md(vs[s['label']])}*" if s["label"] in vs else "") for s in sides]
        lines.append(f"| {_md(r['label'])} | {status} | " + " | ".join(cells) + " |")
    if doc["missing_everywhere"]:
        lines += ["", "## Checklist topics none of them covers", ""] + [f"- {_md(x)}" for x in _missing_lines(doc)]
    for s in sides:
        lines += ["", f"## Findings of {s['label']}: {_md(s['name'])}", ""]
        if not s["findings"]:
            lines.append("No findings.")
        for f in s["findings"]:
            lines.append(f"- **{_md(f['criterion'])}** ({signed(f['score'])}, {f['status']}) on "
                         f"{_md(', '.join(f['facts']))}: {_md(f['message'])}")
    return "\n".join(lines).rstrip() + "\n"


# ---- diff -------------------------------------------------------------------------------------------------------

_DIFF_SECTIONS = (("new_findings", "new", "+"), ("resolved", "resolved", "-"),
                  ("status_changed", "status changed", "~"), ("unchanged", "unchanged", "="))


def diff_summary_line(doc: dict) -> str:
    s = doc["summary"]
    return (f"{plural(s['new_findings'], 'new finding')} ({plural(s['new_conflicts'], 'conflict')}), "
            f"{s['resolved']} resolved ({plural(s['resolved_conflicts'], 'conflict')}), "
            f"{s['status_changed']} with a changed status, {s['unchanged']} unchanged")


def _where(loc: dict | None) -> str:
    return f"{loc['file']}:{loc['line']}" if loc else ""


def edit_lines(f: dict) -> list[str]:
    """The edits behind a new or resolved finding, or the change of its acceptance, one a line."""
    out = []
    for e in f.get("edits") or []:
        name = f"{e['fact']}" + (f" “{e['title']}”" if e.get("title") else "")
        if e["change"] == "added":
            out.append(f"{name} added ({_where(e['new_location'])})")
        elif e["change"] == "removed":
            out.append(f"{name} removed (was at {_where(e['old_location'])})")
        else:
            for fld in e["fields"]:
                old = fld["old"] if fld["old"] is not None else "(none)"
                new = fld["new"] if fld["new"] is not None else "(none)"
                out.append(f"{e['fact']}: {fld['field']} changed from {old} to {new} ({_where(e['new_location'])})")
    change = f.get("acceptance_change")
    if change:
        acc = change["new"] or change["old"] or {}
        until = f" until {acc['until']}" if acc.get("until") else ""
        where = f" ({_where(acc.get('location'))})" if acc.get("location") else ""
        out.append(f"{change['change']}{until}{where}: {acc.get('reason') or ''}".rstrip(": ")
                   + f" (was {change['was']})")
    return out


def render_diff_text(doc: dict) -> str:
    out = [f"from {doc['old']} to {doc['new']}", ""]
    for key, title, mark in _DIFF_SECTIONS:
        items = doc[key]
        out.append(f"{title} ({len(items)})")
        for f in items:
            status = f["status"] if key != "resolved" else "resolved"
            out.append(f"  {mark} {f['criterion']} [{', '.join(f['facts'])}] {signed(f['score'])} {status}"
                       + (f"  {_loc(f)}" if _loc(f) else ""))
            out.append(f"      {f['message']}")
            for line in edit_lines(f):
                out.append(f"      because: {line}")
        out.append("")
    out.append(diff_summary_line(doc))
    return "\n".join(out) + "\n"


def render_diff_markdown(doc: dict) -> str:
    titles = {"new_findings": "New findings", "resolved": "Resolved findings",
              "status_changed": "Findings whose status changed", "unchanged": "Unchanged findings"}
    lines = ["# What changed", "", f"From {markdown_code(doc['old'])} to {markdown_code(doc['new'])}: {_md(diff_summary_line(doc))}."]
    for key, _, _ in _DIFF_SECTIONS:
        items = doc[key]
        lines += ["", f"## {titles[key]} ({len(items)})", ""]
        if not items:
            lines.append("No findings.")
            continue
        lines += ["| criterion | score | status | facts | location | message | what changed |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for f in items:
            status = "resolved" if key == "resolved" else f["status"]
            if key == "status_changed" and f.get("acceptance_change"):
                status = f"{f['status']} (was {f['acceptance_change']['was']})"
            lines.append(f"| {_md(f['criterion'])} | {signed(f['score'])} {f['label']} | {_md(status)} | "
                         f"{_md(', '.join(f['facts']))} | {_md(_loc(f))} | {_md(f['message'])} | "
                         f"{_md('; '.join(edit_lines(f)))} |")
    return "\n".join(lines).rstrip() + "\n"


# ---- dispatch ---------------------------------------------------------------------------------------------------


def render_batch(result, fmt: str) -> str:
    """A batch result in ``fmt`` (table, csv, json, markdown or html)."""
    if fmt == "json":
        return result.to_json()
    doc = result.to_dict()
    if fmt == "html":
        from .html import render_batch_html

        return render_batch_html(doc)
    if fmt == "csv":
        return render_batch_csv(doc)
    return terminal({"markdown": render_batch_markdown}.get(fmt, render_batch_table)(doc))


def render_compare(result, fmt: str) -> str:
    """A comparison in ``fmt`` (text, table, json or markdown)."""
    if fmt == "json":
        return result.to_json()
    return terminal({"table": render_compare_table, "markdown": render_compare_markdown}.get(
        fmt, render_compare_text)(result.to_dict()))


def render_diff(result, fmt: str) -> str:
    """A diff in ``fmt`` (text, json, markdown or html)."""
    if fmt == "json":
        return result.to_json()
    doc = result.to_dict()
    if fmt == "html":
        from .html import render_diff_html

        return render_diff_html(doc)
    return terminal({"markdown": render_diff_markdown}.get(fmt, render_diff_text)(doc))
