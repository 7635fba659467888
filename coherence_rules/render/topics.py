"""Table, CSV, Markdown, JSON and HTML renderings of the ``coherence-topics/1`` document (the topic
matrix of ``coherence batch --view topics``). Every function takes the document (a dict) and
returns text ending in a newline; the same document gives the same bytes.

People read topic labels (the ``topic`` enum's labels, as headers); machines read members (JSON,
CSV). Several articles in a cell are separated by ``; `` since a citation may hold a comma
(``Art. 11(1), (3)``).
"""

from __future__ import annotations

import csv
import io

from . import plural
from .escape import csv_cell, markdown_code, terminal
from .escape import markdown as _md

TOPIC_FORMATS = ("table", "csv", "json", "markdown", "html")

#: The width the table format fits its blocks of columns into (fixed, so the bytes do not depend
#: on the terminal).
TABLE_WIDTH = 120
_CELL_WIDTH = 15


def header_label(label: str) -> str:
    """A topic label as a column header: without a leading article, capitalised
    (``the journey`` -> ``Journey``, ``a joint committee`` -> ``Joint committee``)."""
    text = label.strip()
    for article in ("the ", "a ", "an "):
        if text.lower().startswith(article) and len(text) > len(article):
            text = text[len(article):]
            break
    return text[:1].upper() + text[1:]


def cell_text(cites: list[str]) -> str:
    """A cell's articles, in the order the document gives them (article order)."""
    return "; ".join(cites)


def total_text(total: dict, others: bool = True) -> str:
    """``9 of 11``, with ``(+8)`` when agreements of other kinds cover the topic too."""
    text = f"{total['covered']} of {total['of']}"
    if others and total.get("others"):
        text += f" (+{total['others']})"
    return text


def summary_line(doc: dict) -> str:
    """One sentence: how many agreements, sets and failures the matrix holds."""
    s = doc["summary"]
    failed = f", {s['failed']} failed" if s["failed"] else ""
    return (f"{plural(s['agreements'], 'agreement')} in {plural(s['sets'], 'policy set')}{failed}; "
            f"{plural(len(doc['topics']), 'topic')}")


def topic_groups(doc: dict) -> list[tuple[str, list[str]]]:
    """The columns in groups: the checklist of each agreement kind (in the order the checklist
    lists them), then the other topics. Each group is ``(title, topics)``."""
    kinds = doc.get("kind_labels", {})
    groups: list[tuple[str, list[str]]] = []
    index: dict[tuple, int] = {}
    for t in doc["topics"]:
        key = tuple(doc["totals"][t]["kinds"])
        if key not in index:
            title = ("checklist of " + " and ".join(kinds.get(k, k) for k in key) + " agreements") if key \
                else "other topics"
            index[key] = len(groups)
            groups.append((title, []))
        groups[index[key]][1].append(t)
    return groups


def _row_label(row: dict) -> str:
    if row["agreement"]:
        return row["agreement"]
    return f"{row['set']} ({'failed' if row['status'] != 'ok' else 'no agreement'})"


def _chunks(items: list, size: int) -> list[list]:
    """``items`` in as few blocks of at most ``size`` as possible, of nearly equal length."""
    if not items:
        return []
    count = -(-len(items) // size)
    base, extra = divmod(len(items), count)
    out, at = [], 0
    for i in range(count):
        n = base + (1 if i < extra else 0)
        out.append(items[at:at + n])
        at += n
    return out


def _failures(doc: dict) -> list[tuple[str, list[str]]]:
    return [(r["set"], r["errors"]) for r in doc["rows"] if r["status"] != "ok"]


# ---- table ------------------------------------------------------------------------------------------------------


def render_topics_table(doc: dict) -> str:
    """The agreements (one line each), then the matrix in blocks of columns that fit
    :data:`TABLE_WIDTH`, each with its totals, then why each failed set failed. A cell lists its
    articles one per line. A block leaves out the agreements that cover none of its topics when
    its topics are not on their kind's checklist (and says how many); a checklist's own
    agreements are always shown, so its gaps are."""
    from tabulate import tabulate

    labels = doc["topic_labels"]
    kinds = doc.get("kind_labels", {})
    out = [f"Topic matrix: {summary_line(doc)} (reference date {doc['as_of']})", ""]
    if not doc["rows"]:
        return "\n".join(out + ["no policy sets"]) + "\n"
    agreements = [[r["agreement"] or "-", r["signed"] or "", kinds.get(r["kind"], r["kind"] or ""),
                   ", ".join(r["parties"]), f"{r['coverage']['covered']} of {r['coverage']['of']}" if r["coverage"]
                   else "", r["status"], r["set"]] for r in doc["rows"]]
    out.append(tabulate(agreements, headers=["agreement", "signed", "kind", "parties", "checklist", "status", "set"],
                        tablefmt="simple", disable_numparse=True))
    shown = [r for r in doc["rows"] if r["agreement"]]
    label_width = max([len("covered")] + [len(r["agreement"]) for r in shown])
    per_block = max(1, (TABLE_WIDTH - label_width) // (_CELL_WIDTH + 2))
    for title, topics in topic_groups(doc):
        group_kinds = set(doc["totals"][topics[0]]["kinds"])
        for n, block in enumerate(blocks := _chunks(topics, per_block), 1):
            part = f", {n} of {len(blocks)}" if len(blocks) > 1 else ""
            out += ["", f"== {title}{part}"]
            rows = [r for r in shown if r["kind"] in group_kinds or any(t in r["cells"] for t in block)]
            table = [[r["agreement"]] + ["\n".join(r["cells"].get(t, [])) for t in block] for r in rows]
            table.append(["covered"] + [total_text(doc["totals"][t]) for t in block])
            widths = [label_width] + [_CELL_WIDTH] * len(block)
            out.append(tabulate(table, headers=[""] + [header_label(labels[t]) for t in block], tablefmt="simple",
                                disable_numparse=True, maxcolwidths=widths, maxheadercolwidths=widths))
            left = len(shown) - len(rows)
            if left:
                out.append(f"({plural(left, 'other agreement')} cover{'s' if left == 1 else ''} none of these topics)")
    if any(doc["totals"][t].get("others") for t in doc["topics"]):
        out += ["", "covered: of the agreements whose kind's checklist lists the topic (of all agreements for the",
                "other topics); (+N): agreements of other kinds that cover it too"]
    for name, errors in _failures(doc):
        out += ["", f"== {name} (failed)"] + [f"  {e}" for e in errors]
    return "\n".join(out) + "\n"


# ---- CSV --------------------------------------------------------------------------------------------------------


def render_topics_csv(doc: dict) -> str:
    """One row per agreement: ``set, agreement, title, parties, signed, kind, status``, then one
    column per topic (its member name), each cell the articles separated by ``; ``. No totals
    row (they are in the JSON document, and a sum row would be read as data)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["set", "agreement", "title", "parties", "signed", "kind", "status"] + doc["topics"])
    for r in doc["rows"]:
        cells = [r["set"], r["agreement"] or "", r["title"] or "", ";".join(r["parties"]), r["signed"] or "",
                 r["kind"] or "", r["status"]] + [cell_text(r["cells"].get(t, [])) for t in doc["topics"]]
        w.writerow([csv_cell(c) for c in cells])
    return buf.getvalue()


# ---- Markdown ---------------------------------------------------------------------------------------------------


def render_topics_markdown(doc: dict) -> str:
    """One table: the agreement's columns, then one column per topic (its label), the totals in
    the last row; then why each failed set failed."""
    labels = doc["topic_labels"]
    kinds = doc.get("kind_labels", {})
    topics = doc["topics"]
    lines = ["# Topics of the agreements", "",
             f"Reference date: {doc['as_of']}. {_md(summary_line(doc))}. Each cell lists the articles that cover "
             f"the topic."]
    groups = topic_groups(doc)
    if groups:
        at, parts = 1, []
        for title, ts in groups:
            parts.append(f"columns {at}-{at + len(ts) - 1}: {title}" if len(ts) > 1 else f"column {at}: {title}")
            at += len(ts)
        lines += ["", _md("Topic " + "; ".join(parts)) + "."]
    if any(doc["totals"][t].get("others") for t in topics):
        lines.append("In the last row, a checklist topic counts the agreements whose checklist lists it, and "
                     "(+N) the agreements of other kinds that cover it too.")
    head = ["set", "agreement", "title", "parties", "signed", "kind", "status"]
    lines += ["", "| " + " | ".join(head + [_md(header_label(labels[t])) for t in topics]) + " |",
              "|" + " --- |" * (len(head) + len(topics))]
    for r in doc["rows"]:
        cells = [r["set"], r["agreement"] or "", r["title"] or "", ", ".join(r["parties"]), r["signed"] or "",
                 kinds.get(r["kind"], r["kind"] or ""), r["status"]]
        cells += [cell_text(r["cells"].get(t, [])) for t in topics]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    if doc["rows"]:
        lines.append("| **covered** |" + " |" * (len(head) - 1)
                     + "".join(f" {total_text(doc['totals'][t])} |" for t in topics))
    failures = _failures(doc)
    if failures:
        lines += ["", "## Failed sets", ""]
        for name, errors in failures:
            lines.append(f"- {markdown_code(name)}: " + (_md("; ".join(errors)) or "failed"))
    return "\n".join(lines).rstrip() + "\n"


# ---- dispatch ---------------------------------------------------------------------------------------------------


def render_topics(doc: dict, fmt: str) -> str:
    """The topic matrix in ``fmt`` (one of :data:`TOPIC_FORMATS`)."""
    if fmt == "json":
        from ..commands.topics import topics_json

        return topics_json(doc)
    if fmt == "html":
        from .topics_html import render_topics_html

        return render_topics_html(doc)
    renderers = {"table": render_topics_table, "csv": render_topics_csv, "markdown": render_topics_markdown}
    if fmt not in renderers:
        raise ValueError(f"unknown format '{fmt}' (formats: {', '.join(TOPIC_FORMATS)})")
    return renderers[fmt](doc) if fmt == "csv" else terminal(renderers[fmt](doc))
