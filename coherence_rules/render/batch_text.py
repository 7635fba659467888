"""Text, table, CSV and Markdown renderings of the ``coherence-batch/1``, ``coherence-compare/1``
and ``coherence-diff/1`` documents. Every function takes the document (a dict) and returns text
ending in a newline; the same document gives the same bytes."""

from __future__ import annotations

import csv
import io

from . import plural, signed
from .formats import CSV_COLUMNS, _csv_safe, _md, csv_row


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
            w.writerow([_csv_safe(s["name"])] + csv_row(f))
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


def _side_findings_text(side: dict, label: str) -> list[str]:
    out = [f"findings of {label} ({side['name']}): {len(side['findings'])}"]
    for f in side["findings"]:
        out.append(f"  {f['criterion']} [{', '.join(f['facts'])}] {signed(f['score'])} {f['status']}: {f['message']}")
    return out


def _compare_head(doc: dict) -> list[str]:
    s = doc["summary"]
    return [f"A: {doc['a']['name']}", f"B: {doc['b']['name']}",
            f"{plural(s['topics'], 'topic')}: {s['same']} same, {s['differ']} differ, "
            f"{s['only A']} only in A, {s['only B']} only in B"]


def render_compare_text(doc: dict) -> str:
    import textwrap

    out = _compare_head(doc) + [""]
    for r in doc["topics"]:
        out.append(f"{r['topic']}: {r['status']}")
        for side in ("a", "b"):
            text = r[side] or "-"
            out += textwrap.wrap(text, 96, initial_indent=f"  {side.upper()}: ", subsequent_indent="     ")
    out.append("")
    out += _side_findings_text(doc["a"], "A") + [""] + _side_findings_text(doc["b"], "B")
    return "\n".join(out) + "\n"


def render_compare_table(doc: dict) -> str:
    from tabulate import tabulate

    rows = [[r["topic"], r["status"], r["a"], r["b"]] for r in doc["topics"]]
    out = _compare_head(doc) + [""]
    out.append(tabulate(rows, headers=["topic", "", "A", "B"], tablefmt="simple", maxcolwidths=[None, None, 50, 50])
               if rows else "no clause or law facts on either side")
    for key, label in (("a", "A"), ("b", "B")):
        side = doc[key]
        out += ["", f"findings of {label} ({side['name']}): {len(side['findings'])}"]
        if side["findings"]:
            out.append(tabulate([[f["criterion"], signed(f["score"]), f["status"], ", ".join(f["facts"]), f["message"]]
                                 for f in side["findings"]],
                                headers=["criterion", "score", "status", "facts", "message"], tablefmt="simple",
                                disable_numparse=True, maxcolwidths=[None, None, None, 30, 60]))
    return "\n".join(out) + "\n"


def render_compare_markdown(doc: dict) -> str:
    s = doc["summary"]
    lines = [f"# {_md(doc['a']['name'])} and {_md(doc['b']['name'])}", "",
             f"{plural(s['topics'], 'topic')}: {s['same']} same, {s['differ']} differ, {s['only A']} only in A, "
             f"{s['only B']} only in B.", "",
             f"| topic | | A: {_md(doc['a']['name'])} | B: {_md(doc['b']['name'])} |", "| --- | --- | --- | --- |"]
    for r in doc["topics"]:
        lines.append(f"| {_md(r['topic'])} | {r['status']} | {_md(r['a'])} | {_md(r['b'])} |")
    for key, label in (("a", "A"), ("b", "B")):
        side = doc[key]
        lines += ["", f"## Findings of {label}: {_md(side['name'])}", ""]
        if not side["findings"]:
            lines.append("None.")
        for f in side["findings"]:
            lines.append(f"- **{_md(f['criterion'])}** ({signed(f['score'])}, {f['status']}) on "
                         f"{_md(', '.join(f['facts']))}: {_md(f['message'])}")
    return "\n".join(lines).rstrip() + "\n"


# ---- diff -------------------------------------------------------------------------------------------------------

_DIFF_SECTIONS = (("new_findings", "new", "+"), ("resolved", "resolved", "-"), ("unchanged", "unchanged", "="))


def diff_summary_line(doc: dict) -> str:
    s = doc["summary"]
    return (f"{plural(s['new_findings'], 'new finding')} ({plural(s['new_conflicts'], 'conflict')}), "
            f"{s['resolved']} resolved ({plural(s['resolved_conflicts'], 'conflict')}), {s['unchanged']} unchanged")


def render_diff_text(doc: dict) -> str:
    changes = {c["fingerprint"]: c for c in doc.get("status_changes", [])}
    out = [f"from {doc['old']} to {doc['new']}", ""]
    for key, title, mark in _DIFF_SECTIONS:
        items = doc[key]
        out.append(f"{title} ({len(items)})")
        for f in items:
            note = ""
            if f["fingerprint"] in changes:
                c = changes[f["fingerprint"]]
                note = f" (was {c['old']})"
            out.append(f"  {mark} {f['criterion']} [{', '.join(f['facts'])}] {signed(f['score'])} {f['status']}{note}"
                       + (f"  {_loc(f)}" if _loc(f) else ""))
            out.append(f"      {f['message']}")
        out.append("")
    out.append(diff_summary_line(doc))
    return "\n".join(out) + "\n"


def render_diff_markdown(doc: dict) -> str:
    lines = ["# What changed", "", f"From `{_md(doc['old'])}` to `{_md(doc['new'])}`: {_md(diff_summary_line(doc))}."]
    for key, title, _ in _DIFF_SECTIONS:
        items = doc[key]
        lines += ["", f"## {title.capitalize()} findings ({len(items)})", ""]
        if not items:
            lines.append("None.")
            continue
        lines += ["| criterion | score | status | facts | location | message |", "| --- | --- | --- | --- | --- | --- |"]
        for f in items:
            lines.append(f"| {_md(f['criterion'])} | {signed(f['score'])} {f['label']} | {f['status']} | "
                         f"{_md(', '.join(f['facts']))} | {_md(_loc(f))} | {_md(f['message'])} |")
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
    return {"csv": render_batch_csv, "markdown": render_batch_markdown}.get(fmt, render_batch_table)(doc)


def render_compare(result, fmt: str) -> str:
    """A comparison in ``fmt`` (text, table, json or markdown)."""
    if fmt == "json":
        return result.to_json()
    return {"table": render_compare_table, "markdown": render_compare_markdown}.get(fmt, render_compare_text)(
        result.to_dict())


def render_diff(result, fmt: str) -> str:
    """A diff in ``fmt`` (text, json, markdown or html)."""
    if fmt == "json":
        return result.to_json()
    doc = result.to_dict()
    if fmt == "html":
        from .html import render_diff_html

        return render_diff_html(doc)
    return {"markdown": render_diff_markdown}.get(fmt, render_diff_text)(doc)
