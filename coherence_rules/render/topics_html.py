"""The HTML page of the agreements x topics matrix (``batch --view topics --format html``).

A sortable, filterable matrix, a chart of coverage by signature year, and each agreement's
articles, to which every cell links. Built like the report (:mod:`.html`): a view model first,
every input-derived value autoescaped, the script a file of this package allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from typing import Any

from .html import _TEMPLATES, _Anchors, _assets, _count, _dict, _environment, _list, _text

#: Colours of the agreement kinds in the chart of coverage by year (CSS classes of topics.css).
_KIND_CLASSES = ("k1", "k2", "k3", "k4")
#: The chart's geometry, in SVG user units.
_CHART = {"left": 160, "right": 90, "top": 30, "row": 18, "group": 28, "bottom": 40, "width": 1100}


def render_topics_html(doc: dict) -> str:
    """Render a ``coherence-topics/1`` document: the agreements x topics matrix (sortable and
    filterable), a chart of coverage by signature year, and each agreement's articles, to which
    every cell links. The sorting and filtering script is a file of this package, included inline
    and allowed by its hash; without it the page shows everything in the document's order."""
    from markupsafe import Markup

    env = _environment()
    page = _topics_view(doc)
    css, _, _ = _assets()
    extra_css, script, script_hash = _topics_assets()
    return env.get_template("topics.html.j2").render(
        page=page, css=Markup(css + "\n" + extra_css), script=Markup(script), script_hash=script_hash
    )


@lru_cache(maxsize=1)
def _topics_assets() -> tuple[str, str, str]:
    """The topic page's own stylesheet and script, and the CSP hash of the script."""
    css = (_TEMPLATES / "topics.css").read_text(encoding="utf-8")
    script = (_TEMPLATES / "topics.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return css, script, f"'sha256-{digest}'"


def _topic_header(label: str) -> str:
    from .topics import header_label

    return header_label(label)


def _cite_segments(cite: str) -> list[str]:
    """A citation in the parts a narrow cell may break it into: at its commas only, so that
    ``Art. 17(1)-(2)`` stays whole and ``Final protocol, point 1(a)`` wraps after the comma."""
    return [part for part in cite.split(", ") if part] or [cite]


def _year(date: Any) -> int | None:
    text = _text(date)
    return int(text[:4]) if re.match(r"\d{4}", text) else None


def _topics_view(doc: dict) -> dict:
    """The view model of ``topics.html.j2``."""
    from ..commands.topics import is_position
    from .topics import total_text

    doc = doc if isinstance(doc, dict) else {}
    anchors = _Anchors()
    labels = {_text(k): _text(v) for k, v in _dict(doc.get("topic_labels")).items()}
    kind_labels = {_text(k): _text(v) for k, v in _dict(doc.get("kind_labels")).items()}
    totals = _dict(doc.get("totals"))
    topics = [_text(t) for t in _list(doc.get("topics"))]
    checklist_cites: dict[str, list[str]] = {}
    for e in _list(doc.get("checklist")):
        if isinstance(e, dict) and e.get("cite"):
            checklist_cites.setdefault(_text(e.get("topic")), []).append(
                f"{kind_labels.get(_text(e.get('kind')), _text(e.get('kind')))}: {_text(e.get('cite'))}")
    kinds_present = sorted({_text(r.get("kind")) for r in _list(doc.get("rows"))
                            if isinstance(r, dict) and r.get("kind")})
    kind_cls = {k: _KIND_CLASSES[i % len(_KIND_CLASSES)] for i, k in enumerate(kinds_present)}

    columns, groups = [], []
    for t in topics:
        total = _dict(totals.get(t))
        kinds = [_text(k) for k in _list(total.get("kinds"))]
        title = ("Checklist of " + " and ".join(kind_labels.get(k, k) for k in kinds) + " agreements") if kinds \
            else "Other topics"
        if not groups or groups[-1]["title"] != title:
            groups.append({"title": title, "span": 0, "checklist": bool(kinds)})
        groups[-1]["span"] += 1
        label = labels.get(t, t)
        covered, of = _count(total.get("covered")), _count(total.get("of"))
        note = f"{label}: covered by {covered} of {of} agreements"
        if kinds:
            note += " of the kinds whose checklist lists it"
        if _count(total.get("others")):
            note += f", and by {_count(total.get('others'))} of other kinds"
        columns.append({
            "topic": t, "label": label, "group": title, "header": _topic_header(label), "kinds": kinds, "checklist": bool(kinds),
            "cls": "col-checklist" if kinds else "col-other",
            "total": total_text({"covered": covered, "of": of, "others": _count(total.get("others"))}),
            "note": note + ("; " + "; ".join(checklist_cites[t]) if t in checklist_cites else ""),
        })

    rows, agreements = [], []
    for r in _list(doc.get("rows")):
        if not isinstance(r, dict):
            continue
        status = _text(r.get("status")) or "ok"
        agreement = _text(r.get("agreement"))
        kind = _text(r.get("kind"))
        cells_in = _dict(r.get("cells"))
        coverage = r.get("coverage") if isinstance(r.get("coverage"), dict) else None
        row = {
            "set": _text(r.get("set")), "agreement": agreement, "title": _text(r.get("title")),
            "parties": [_text(p) for p in _list(r.get("parties"))], "signed": _text(r.get("signed")),
            "kind": kind, "kind_label": kind_labels.get(kind, kind), "kind_cls": kind_cls.get(kind, "k0"),
            "status": status, "status_cls": status if status in ("ok", "failed") else "other",
            "errors": [_text(e) for e in _list(r.get("errors"))],
            "coverage": f"{_count(coverage.get('covered'))} of {_count(coverage.get('of'))}" if coverage else "",
            "coverage_sort": (f"{_count(coverage.get('covered')) / _count(coverage.get('of')):.4f}"
                              if coverage and _count(coverage.get("of")) else "-1"),
            "anchor": None, "cells": [],
        }
        row["search"] = " ".join([row["set"], agreement, row["title"], " ".join(row["parties"]), row["signed"],
                                  row["kind_label"]]).lower()
        if agreement:
            row["anchor"] = anchors.make("ag", agreement)
            clause_anchor: dict[tuple[str, str], str] = {}
            articles = []
            for c in _list(r.get("clauses")):
                if not isinstance(c, dict):
                    continue
                topic, cite = _text(c.get("topic")), _text(c.get("cite")) or _text(c.get("id"))
                anchor = anchors.make("cl", _text(c.get("id")))
                clause_anchor.setdefault((topic, cite), anchor)
                provision = _text(c.get("provision"))
                articles.append({
                    "anchor": anchor, "id": _text(c.get("id")), "cite": cite, "topic": topic,
                    "topic_label": labels.get(topic, topic), "title": _text(c.get("title")),
                    "position": provision if is_position(provision) else "",
                    "prose": "" if is_position(provision) else provision,
                    "text": _text(c.get("text")),
                })
            for col in columns:
                cites = [_text(x) for x in _list(cells_in.get(col["topic"]))]
                gap = not cites and kind in col["kinds"]
                row["cells"].append({
                    "cls": col["cls"], "gap": gap, "topic": col["topic"],
                    "title": (f"{agreement}: no article on {col['label']}" if gap else
                              f"{agreement}, {col['label']}: {'; '.join(cites)}" if cites else ""),
                    "links": [{"cite": x, "segments": _cite_segments(x), "href": clause_anchor.get((col["topic"], x))}
                              for x in cites],
                })
            agreements.append({
                "anchor": row["anchor"], "id": agreement, "title": row["title"], "set": row["set"],
                "signed": row["signed"], "kind_label": row["kind_label"], "parties": row["parties"],
                "articles": articles, "topics": len(cells_in),
            })
        rows.append(row)

    failed = sum(1 for r in rows if r["status"] != "ok")
    checklist_span = sum(1 for c in columns if c["checklist"])
    summary = _dict(doc.get("summary"))
    tool = _dict(doc.get("tool"))
    return {
        "kind": "topics",
        "title": "Agreements and the topics they cover",
        "tool": f"{_text(tool.get('name')) or 'coherence'} {_text(tool.get('version'))}".strip(),
        "as_of": _text(doc.get("as_of")),
        "rulesets": [{"name": _text(x.get("name")), "version": _text(x.get("version"))}
                     for x in _list(doc.get("ruleset")) if isinstance(x, dict)],
        "counts": {"sets": _count(summary.get("sets")), "agreements": _count(summary.get("agreements")),
                   "failed": failed, "topics": len(columns), "checklist": checklist_span},
        "groups": groups,
        "columns": columns,
        "checklist_span": checklist_span,
        "other_span": len(columns) - checklist_span,
        "rows": rows,
        "kinds": [{"key": k, "label": kind_labels.get(k, k), "cls": kind_cls[k],
                   "count": sum(1 for r in rows if r["kind"] == k)} for k in kinds_present],
        "agreements": agreements,
        "chart": _coverage_chart(columns, rows, kind_cls),
    }


def _coverage_chart(columns: list[dict], rows: list[dict], kind_cls: dict[str, str]) -> dict | None:
    """Which topics the agreements cover, by year of signature: one line per topic (grouped as the
    matrix's columns), one dot per agreement that covers it, at its year; the first year a topic
    appears in is written at the end of its line. Geometry and texts only: the template draws the
    SVG (escaping every text), and the same numbers make the chart's table."""
    dated = [(r, _year(r["signed"])) for r in rows if r["agreement"] and r["status"] == "ok"]
    dated = [(r, y) for r, y in dated if y is not None]
    if not dated or not columns:
        return None
    # room on the left for the longest topic label (about 6.3 units a character at 11px)
    g = dict(_CHART, left=max(_CHART["left"], min(360, round(16 + 6.3 * max(len(c["header"]) for c in columns)))))
    first_year = min(y for _, y in dated) - 1
    last_year = max(y for _, y in dated) + 1
    plot = g["width"] - g["left"] - g["right"]

    def x_of(year: float) -> float:
        return round(g["left"] + (year - first_year) / max(last_year - first_year, 1) * plot, 1)

    lines, dots, headings, table = [], [], [], []
    y = g["top"]
    group = None
    for index, col in enumerate(columns):
        if col["group"] != group:
            group = col["group"]
            y += g["group"]
            headings.append({"y": y - 4, "text": group})
        y += g["row"]
        covering = [(r, yr) for r, yr in dated if r["cells"][index]["links"]]
        by_year: dict[int, list[dict]] = {}
        for r, yr in covering:
            by_year.setdefault(yr, []).append(r)
        for yr, members in sorted(by_year.items()):
            for i, r in enumerate(members):
                # agreements of one year side by side, not on top of each other
                dx = (i - (len(members) - 1) / 2) * 7
                dots.append({"x": round(x_of(yr) + dx, 1), "y": y, "cls": kind_cls.get(r["kind"], "k0"),
                             "title": f"{col['label']}: {r['agreement']}, signed {r['signed']}: "
                                      + "; ".join(link["cite"] for link in r["cells"][index]["links"])})
        first = min(by_year) if by_year else None
        lines.append({"y": y, "label": col["header"], "first": str(first) if first else "never"})
        table.append({"label": col["header"], "group": col["group"], "first": str(first) if first else "",
                      "firsts": sorted(r["agreement"] for r in by_year.get(first, [])) if first else [],
                      "count": len(covering),
                      "years": ", ".join(f"{yr}" + (f" ({len(m)})" if len(m) > 1 else "")
                                         for yr, m in sorted(by_year.items()))})
    step = 5 if last_year - first_year > 12 else 1
    ticks = [{"x": x_of(yr), "text": str(yr)} for yr in range(first_year + (-first_year) % step, last_year + 1, step)]
    signed = sorted({yr for _, yr in dated})
    return {"width": g["width"], "height": y + g["bottom"], "left": g["left"], "right": g["width"] - g["right"],
            "top": g["top"], "bottom": y + 12, "axis_y": y + 28, "lines": lines, "dots": dots, "ticks": ticks,
            "headings": headings, "signed": [x_of(yr) for yr in signed], "first_x": g["width"] - g["right"] + 14,
            "table": table, "years": f"{signed[0]}-{signed[-1]}"}
