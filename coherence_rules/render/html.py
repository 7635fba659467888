"""The HTML report: one self-contained file a drafter can open, send and print.

The page needs no network: CSS and JavaScript are inline, there are no fonts or images, and a
Content-Security-Policy forbids every fetch. Everything that comes from the input (titles, messages,
citations, file names, source text) goes through Jinja2's autoescaping; no input-derived value is
ever marked safe, and no data is embedded in a script: the filters read ``data-`` attributes.

The functions take the dicts of ``docs/report-format.md`` (and the batch and diff results) and turn
them into view models first, so the templates only lay things out and the output is the same bytes
for the same input.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import MissingExtra, plural  # noqa: F401 - MissingExtra is raised here, and named here by callers


_TEMPLATES = Path(__file__).parent / "templates"
_MISSING_JINJA = "HTML output needs Jinja2: pip install 'coherence-rules[html]'"

#: The seven-point interaction scale: score -> (label, meaning for a pair of policies).
SCALE: dict[int, tuple[str, str]] = {
    3: ("indivisible", "one is inextricably linked to the other's success"),
    2: ("reinforcing", "one directly helps achieve the other"),
    1: ("enabling", "one creates conditions that further the other"),
    0: ("consistent", "no significant interaction"),
    -1: ("constraining", "one limits options for the other"),
    -2: ("counteracting", "one clashes with the other"),
    -3: ("cancelling", "one makes the other impossible"),
}

STATUS_NAMES = {"open": "Open", "accepted": "Accepted", "expired": "Expired", "resolved": "Resolved"}

#: Plain-language explanations of finding statuses.
STATUS_NOTES = {
    "open": "Not resolved and not covered by an accepted trade-off.",
    "accepted": "A recorded trade-off covers this finding; it does not fail a check.",
    "expired": "The recorded trade-off has lapsed; the finding counts as open again.",
    "resolved": "Found in the old version and no longer in the new one.",
}

#: Plain-language explanations of the statuses of `accept` statements.
ACCEPT_NOTES = {
    "applied": "covers at least one finding",
    "expired": "its date has passed: the findings it covered count as open again",
    "stale": "matches no finding: the criterion or the ids may have changed; update or remove it",
}

TRACE_KINDS = {
    "criterion": "criterion",
    "fact": "written fact",
    "derived": "derived fact",
    "derivation": "derived by rule",
    "absent": "absent",
    "exists": "exists",
}

#: How many lines of source text to show before and after a fact's header line.
EXCERPT_BEFORE = 4
EXCERPT_AFTER = 4
#: Proof trees deeper or larger than this are cut, with a note (they would not be readable anyway).
TRACE_MAX_DEPTH = 100
#: How many open conflicts the summary lists before saying how many more there are.
ATTENTION_MAX = 8
TRACE_MAX_NODES = 2000


# --------------------------------------------------------------------------- public functions


def render_html(report: dict, sources: dict[str, str] | None = None) -> str:
    """Render a ``coherence-report/1`` dict as one self-contained HTML page.

    ``sources`` maps a location's ``file`` to that file's text; files it does not hold simply get
    no excerpt.
    """
    env = _environment()
    page = _ReportView(report, sources or {}).build()
    return _render(env, "report.html.j2", page)


def render_batch_html(batch: dict) -> str:
    """Render a ``coherence-batch/1`` result: a sets x criteria matrix, then each set's findings."""
    from .html_results import batch_view

    return _render(_environment(), "batch.html.j2", batch_view(batch))


def render_diff_html(diff: dict) -> str:
    """Render a ``coherence-diff/1`` result: findings new, resolved and unchanged."""
    from .html_results import diff_view

    return _render(_environment(), "diff.html.j2", diff_view(diff))


# --------------------------------------------------------------------------- Jinja2 plumbing


@lru_cache(maxsize=1)
def _environment():
    try:
        import jinja2
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise MissingExtra(_MISSING_JINJA) from error
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code_spans"] = code_spans
    return env


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def code_spans(text: Any):
    """Advice as HTML: the text escaped, and what it quotes for a file's author between backticks
    (`accept ... on [...]`, `indicator`) set as code. Only the escaped text goes inside the tags."""
    from markupsafe import Markup, escape

    escaped = str(escape(_text(text)))
    return Markup(_CODE_SPAN.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))


@lru_cache(maxsize=1)
def _assets() -> tuple[str, str, str]:
    """The page's own stylesheet and script, and the CSP hash of the script."""
    css = (_TEMPLATES / "report.css").read_text(encoding="utf-8")
    script = (_TEMPLATES / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return css, script, f"'sha256-{digest}'"


def _render(env, template: str, page: dict) -> str:
    from markupsafe import Markup

    css, script, script_hash = _assets()
    # The stylesheet and the script are files of this package, never input: they alone are
    # marked safe. The script hash lets the CSP refuse any other inline script.
    return env.get_template(template).render(
        page=page, css=Markup(css), script=Markup(script), script_hash=script_hash
    )


# --------------------------------------------------------------------------- small helpers


def _text(value: Any) -> str:
    """Input as display text (``None`` -> empty)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _score(value: Any) -> int | None:
    """A score on the seven-point scale, or ``None`` when the input holds something else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-3]", value.strip()):
        value = int(value)
    if isinstance(value, int) and -3 <= value <= 3:
        return value
    return None


def score_text(score: int | None) -> str:
    """``+2``, ``-2``, ``0`` (``?`` for a value off the scale)."""
    if score is None:
        return "?"
    return f"{score:+d}" if score else "0"


def score_class(score: int | None) -> str:
    if score is None:
        return "s-na"
    return "s-0" if score == 0 else ("s-p%d" % score if score > 0 else "s-m%d" % -score)


def score_label(score: int | None) -> str:
    return SCALE[score][0] if score is not None else "unscored"


def _score_view(value: Any) -> dict:
    score = _score(value)
    return {
        "value": score,
        "text": score_text(score),
        "label": score_label(score),
        "meaning": SCALE[score][1] if score is not None else "",
        "cls": score_class(score),
        "key": score_text(score) if score is not None else "na",
    }


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _count(value: Any) -> int:
    number = _int(value)
    return number if number is not None else 0


def _location_text(location: Any) -> str:
    """``file:line`` of a location dict (empty when there is none)."""
    if not isinstance(location, dict):
        return ""
    file = _text(location.get("file"))
    line = _int(location.get("line"))
    return f"{file}:{line}" if line is not None else file


class _Anchors:
    """Gives every anchor a safe, unique id (letters, digits, ``_ . -``) in a fixed order."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, prefix: str, raw: str) -> str:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", raw)[:80].strip("_") or "x"
        anchor = f"{prefix}-{slug}"
        candidate, n = anchor, 1
        while candidate in self.used:
            n += 1
            candidate = f"{anchor}-{n}"
        self.used.add(candidate)
        return candidate


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- excerpts and traces


def context_view(text: str | None, file: str, line: int | None) -> dict | None:
    """The text a fact encodes (:func:`coherence_rules.findings.context.fact_context`) for the
    ``excerpt_block`` macro: prose paragraphs for a Markdown source, the whole fact otherwise."""
    from ..findings.context import fact_context

    ctx = fact_context(text, file, line)
    if ctx is None:
        return None
    paragraphs: list[str] = []
    current: list[str] = []
    for _, t in ctx.lines:
        if t.strip():
            current.append(t.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    last = ctx.lines[-1][0] if ctx.lines else (line or 1)
    return {
        "kind": ctx.kind,
        "heading": ctx.heading or "",
        "paragraphs": paragraphs,
        "lines": [{"no": n, "text": t.expandtabs(4), "hit": n == line} for n, t in ctx.lines],
        "width": len(str(last)),
    }


def excerpt(text: str | None, line: int | None) -> dict | None:
    """A few lines of ``text`` around ``line`` (1-based), that line marked; ``None`` if out of range."""
    if text is None or line is None:
        return None
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    first = max(1, line - EXCERPT_BEFORE)
    last = min(len(lines), line + EXCERPT_AFTER)
    return {
        "lines": [
            {"no": n, "text": lines[n - 1].expandtabs(4), "hit": n == line}
            for n in range(first, last + 1)
        ],
        "width": len(str(last)),
    }


def trace_items(trace: Any) -> tuple[list[dict], bool]:
    """The proof tree as a flat list in document order, for nested lists without recursion.

    Each item has ``depth``, ``has_children`` and ``close`` (how many open lists end after it).
    The second value tells whether the tree was cut at TRACE_MAX_DEPTH or TRACE_MAX_NODES.
    """
    if not isinstance(trace, dict):
        return [], False
    flat: list[tuple[int, dict]] = []
    cut = False
    stack: list[tuple[int, dict]] = [(0, trace)]
    while stack:
        depth, node = stack.pop()
        if len(flat) >= TRACE_MAX_NODES:
            cut = True
            break
        flat.append((depth, node))
        children = [c for c in _list(node.get("children")) if isinstance(c, dict)]
        if children and depth + 1 >= TRACE_MAX_DEPTH:
            cut = True
            children = []
        stack.extend((depth + 1, child) for child in reversed(children))
    items = []
    for index, (depth, node) in enumerate(flat):
        following = flat[index + 1][0] if index + 1 < len(flat) else 0
        has_children = following > depth
        items.append(
            {
                "depth": depth,
                "has_children": has_children,
                "close": 0 if has_children else depth - following,
                "node": _trace_node(node),
            }
        )
    return items, cut


def _trace_node(node: dict) -> dict:
    kind = _text(node.get("kind"))
    return {
        "kind": kind,
        "kind_cls": kind if kind in TRACE_KINDS else "other",
        "kind_name": TRACE_KINDS.get(kind, kind or "node"),
        "id": _text(node.get("id")),
        "type": _text(node.get("type")),
        "text": _text(node.get("text")),
        "rule": _text(node.get("rule")),
        "cite": _text(node.get("cite")),
        "location": _location_text(node.get("location")),
    }


# --------------------------------------------------------------------------- findings


def finding_view(finding: dict, sources: dict[str, str], anchors: _Anchors, prefix: str = "f") -> dict:
    """A finding ready for the ``finding`` macro."""
    score = _score_view(finding.get("score"))
    status = _text(finding.get("status")) or "open"
    acceptance = finding.get("acceptance")
    articles = []
    seen: set[str] = set()
    for detail in _list(finding.get("fact_details")):
        if not isinstance(detail, dict):
            continue
        fact_id = _text(detail.get("id"))
        if fact_id in seen:
            continue
        seen.add(fact_id)
        location = _dict(detail.get("location"))
        file = location.get("file")
        source = sources.get(file) if isinstance(file, str) else None
        articles.append(
            {
                "id": fact_id,
                "type": _text(detail.get("type")),
                "title": _text(detail.get("title")),
                "cite": _text(detail.get("cite")),
                "instrument": _text(detail.get("instrument")),
                "derived": bool(detail.get("derived")),
                "location": _location_text(location),
                "file": _text(file),
                "excerpt": context_view(source, _text(file), _int(location.get("line"))),
            }
        )
    items, cut = trace_items(finding.get("trace"))
    if items and items[0]["node"]["kind"] == "criterion" and not items[0]["node"]["text"]:
        items[0]["node"]["text"] = _text(finding.get("title"))
    until = _text(acceptance.get("until")) if isinstance(acceptance, dict) else ""
    return {
        "anchor": anchors.make(prefix, _text(finding.get("fingerprint")) or _text(finding.get("criterion"))),
        "fingerprint": _text(finding.get("fingerprint")),
        "contested_by": [_text(fp) for fp in _list(finding.get("contested_by"))],
        "contested": [],
        "criterion": _text(finding.get("criterion")),
        "title": _text(finding.get("title")),
        "score": score,
        "dimension": _text(finding.get("dimension")),
        "dimension_label": _text(finding.get("dimension_label")) or _text(finding.get("dimension")),
        "message": _text(finding.get("message")),
        "advice": _text(finding.get("advice")),
        "status": status,
        "status_name": STATUS_NAMES.get(status, status),
        "status_note": STATUS_NOTES.get(status, ""),
        "status_cls": status if status in STATUS_NAMES else "other",
        "acceptance": {
            "reason": _text(acceptance.get("reason")),
            "until": until,
            "location": _location_text(acceptance.get("location")),
        }
        if isinstance(acceptance, dict)
        else None,
        "instruments": [_text(i) for i in _list(finding.get("instruments"))],
        "location": _location_text(finding.get("location")),
        "articles": articles,
        "excerpts": sum(1 for a in articles if a["excerpt"]),
        "edits": [],  # what changed behind it, on the diff page
        "trace": items,
        "trace_cut": cut,
    }


def _filter_options(findings: list[dict]) -> dict:
    by_score: dict[str, int] = {}
    dimensions: dict[str, int] = {}
    dimension_labels: dict[str, str] = {}
    statuses: dict[str, int] = {"open": 0, "accepted": 0, "expired": 0}
    for f in findings:
        dimension_labels[f["dimension"]] = f.get("dimension_label") or f["dimension"]
        by_score[f["score"]["key"]] = by_score.get(f["score"]["key"], 0) + 1
        dimensions[f["dimension"]] = dimensions.get(f["dimension"], 0) + 1
        statuses[f["status"]] = statuses.get(f["status"], 0) + 1
    scores = [
        {"key": score_text(s), "label": f"{score_text(s)} {SCALE[s][0]}", "cls": score_class(s),
         "count": by_score.get(score_text(s), 0)}
        for s in range(-3, 4)
    ]
    if "na" in by_score:
        scores.append({"key": "na", "label": "unscored", "cls": "s-na", "count": by_score["na"]})
    return {
        "scores": scores,
        "dimensions": [{"key": d, "label": dimension_labels.get(d, d), "count": n} for d, n in sorted(dimensions.items())],
        "statuses": [
            {"key": s, "name": STATUS_NAMES.get(s, s), "note": STATUS_NOTES.get(s, ""), "count": n}
            for s, n in (
                [(k, statuses[k]) for k in ("open", "accepted", "expired")]
                + sorted((k, v) for k, v in statuses.items() if k not in STATUS_NAMES)
            )
        ],
    }


def _summary_view(summary: dict, labels: dict[str, str] | None = None) -> dict:
    by_score = _dict(summary.get("by_score"))
    index = summary.get("coherence_index")
    index_value = None
    if isinstance(index, (int, float)) and not isinstance(index, bool) and math.isfinite(index):
        index_value = max(-1.0, min(1.0, float(index)))
    if index_value is None:
        index_text, index_reading = "n/a", "no findings to weigh"
    else:
        index_text = f"{index_value:+.2f}" if index_value else "0.00"
        if index_value <= -0.5:
            index_reading = "mostly conflicting"
        elif index_value < 0:
            index_reading = "more conflict than synergy"
        elif index_value == 0:
            index_reading = "conflicts and synergies balance out"
        elif index_value < 0.5:
            index_reading = "more synergy than conflict"
        else:
            index_reading = "mostly reinforcing"
    counts = [_count(by_score.get(score_text(s), by_score.get(str(s)))) for s in range(-3, 4)]
    return {
        "facts": _count(summary.get("facts")),
        "derived_facts": _count(summary.get("derived_facts")),
        "criteria_run": _count(summary.get("criteria_run")),
        "findings": _count(summary.get("findings")),
        "open": _count(summary.get("open")),
        "accepted": _count(summary.get("accepted")),
        "expired": _count(summary.get("expired")),
        "conflicts": _count(summary.get("conflicts")),
        "synergies": _count(summary.get("synergies")),
        "by_score": [
            {
                "text": score_text(s),
                "label": SCALE[s][0],
                "meaning": SCALE[s][1],
                "cls": score_class(s),
                "count": counts[s + 3],
            }
            for s in range(-3, 4)
        ],
        "by_dimension": [
            {"name": (labels or {}).get(_text(name), _text(name)), "count": _count(n)}
            for name, n in sorted(_dict(summary.get("by_dimension")).items(), key=lambda kv: _text(kv[0]))
        ],
        "index": index_value,
        "index_text": index_text,
        "index_reading": index_reading,
        # position of the marker on the -1..+1 gauge, in percent
        "index_position": None if index_value is None else round((index_value + 1) * 50, 1),
        "index_formula": _text(summary.get("coherence_index_formula")),
    }


# --------------------------------------------------------------------------- the report page


class _ReportView:
    """Builds the view model of ``report.html.j2`` from a report dict."""

    def __init__(self, report: dict, sources: dict[str, str]) -> None:
        self.report = report if isinstance(report, dict) else {}
        self.sources = {k: v for k, v in _dict(sources).items() if isinstance(v, str)}
        self.anchors = _Anchors()

    def build(self) -> dict:
        report = self.report
        matrix = _dict(report.get("matrix"))
        titles: dict[str, str] = {}
        for inst in _list(matrix.get("instruments")):
            if isinstance(inst, dict):
                titles.setdefault(_text(inst.get("id")), _text(inst.get("title")))
        findings = [
            finding_view(f, self.sources, self.anchors)
            for f in _list(report.get("findings"))
            if isinstance(f, dict)
        ]
        by_fingerprint = {f["fingerprint"]: f for f in findings}
        for f in findings:  # the conflicts that contest a synergy, to link from its card
            f["contested"] = [{"anchor": by_fingerprint[fp]["anchor"], "criterion": by_fingerprint[fp]["criterion"]}
                              for fp in f["contested_by"] if fp in by_fingerprint]
        groups = self._groups(findings, titles)
        # open and expired conflicts, worst first: what a drafter has to act on
        attention = sorted(
            (f for f in findings if (f["score"]["value"] or 0) < 0 and f["status"] in ("open", "expired")),
            key=lambda f: f["score"]["value"],
        )
        tool = _dict(report.get("tool"))
        return {
            "kind": "report",
            "title": _text(_dict(report.get("policy_set")).get("title")) or "Policy coherence report",
            "policy_set": self._policy_set(_dict(report.get("policy_set"))),
            "tool": f"{_text(tool.get('name')) or 'coherence'} {_text(tool.get('version'))}".strip(),
            "as_of": _text(report.get("as_of")),
            "rulesets": [
                {"name": _text(r.get("name")), "title": _text(r.get("title")), "version": _text(r.get("version"))}
                for r in _list(report.get("rulesets"))
                if isinstance(r, dict)
            ],
            "inputs": [_text(i) for i in _list(report.get("inputs"))],
            "summary": _summary_view(_dict(report.get("summary")),
                                     {f["dimension"]: f["dimension_label"] for f in findings}),
            "matrix": self._matrix(matrix, titles, groups, findings),
            "frameworks": self._frameworks(_dict(report.get("frameworks")), findings),
            "findings_total": len(findings),
            "attention": attention[:ATTENTION_MAX],
            "attention_more": max(0, len(attention) - ATTENTION_MAX),
            "groups": groups,
            "filters": _filter_options(findings),
            "accepts": [
                {
                    "criterion": _text(a.get("criterion")),
                    "ids": [_text(i) for i in _list(a.get("ids"))],
                    "reason": _text(a.get("reason")),
                    "until": _text(a.get("until")),
                    "location": _location_text(a.get("location")),
                    "status": _text(a.get("status")),
                    "status_cls": _text(a.get("status")) if a.get("status") in ACCEPT_NOTES else "other",
                    "note": ACCEPT_NOTES.get(_text(a.get("status")), ""),
                }
                for a in _list(report.get("accepts"))
                if isinstance(a, dict)
            ],
            "diagnostics": _diagnostics_view(report.get("diagnostics")),
            "statuses": [
                {"key": s, "name": STATUS_NAMES[s], "note": STATUS_NOTES[s]} for s in ("open", "accepted", "expired")
            ],
            "scale": [
                {"text": score_text(s), "label": SCALE[s][0], "meaning": SCALE[s][1], "cls": score_class(s)}
                for s in range(-3, 4)
            ],
        }

    def _groups(self, findings: list[dict], titles: dict[str, str]) -> list[dict]:
        """Findings grouped by the instruments they involve, in the matrix's order."""
        grouped: dict[tuple[str, ...], list[dict]] = {}
        for f in findings:
            key = tuple(sorted(set(f["instruments"])))
            grouped.setdefault(key, []).append(f)
        groups = []
        for key in sorted(grouped, key=lambda k: (k == (), k if len(k) != 1 else (k[0], k[0]))):
            members = grouped[key]
            scores = [f["score"]["value"] for f in members if f["score"]["value"] is not None]
            worst = min(scores) if scores else None
            groups.append(
                {
                    "key": key,
                    "anchor": self.anchors.make("g", "--".join(key) or "none"),
                    "instruments": [{"id": i, "title": titles.get(i, "")} for i in key],
                    "internal": len(key) == 1,
                    "findings": members,
                    "count": plural(len(members), "finding"),
                    "worst": _score_view(worst) if worst is not None else None,
                }
            )
        return groups

    @staticmethod
    def _policy_set(ps: dict) -> dict:
        """What the report is about: the set's title and its jurisdictions, for the masthead."""
        return {
            "title": _text(ps.get("title")),
            "jurisdictions": [
                {"id": _text(j.get("id")), "title": _text(j.get("title")), "level": _text(j.get("level"))}
                for j in _list(ps.get("jurisdictions")) if isinstance(j, dict)
            ],
        }

    def _matrix(self, matrix: dict, titles: dict[str, str], groups: list[dict], findings: list[dict]) -> dict:
        cells: dict[tuple[str, str], dict] = {}
        ids = list(titles)
        for cell in _list(matrix.get("cells")):
            if not isinstance(cell, dict):
                continue
            a, b = _text(cell.get("a")), _text(cell.get("b"))
            a, b = min(a, b), max(a, b)
            cells[(a, b)] = cell
            for i in (a, b):
                if i not in titles:
                    titles[i] = ""
                    ids.append(i)
        ids = sorted(set(ids))
        by_fingerprint = {f["fingerprint"]: f for f in findings}
        group_of: dict[tuple[str, ...], dict] = {g["key"]: g for g in groups}
        rows = []
        for row_index, a in enumerate(ids):
            row = []
            for col_index, b in enumerate(ids):
                if col_index < row_index:
                    row.append({"kind": "lower"})
                    continue
                cell = cells.get((a, b))
                if cell is None or not _count(cell.get("count")):
                    row.append({"kind": "empty", "a": a, "b": b})
                    continue
                worst, best = _score_view(cell.get("worst")), _score_view(cell.get("best"))
                members = [by_fingerprint[fp] for fp in map(_text, _list(cell.get("findings"))) if fp in by_fingerprint]
                group = group_of.get((a,) if a == b else (a, b))
                if group and all(m in group["findings"] for m in members):
                    href = group["anchor"]
                elif members:
                    href = members[0]["anchor"]
                else:
                    href = None
                count = _count(cell.get("count"))
                row.append(
                    {
                        "kind": "cell",
                        "a": a,
                        "b": b,
                        "worst": worst,
                        "best": best,
                        "range": worst["value"] != best["value"] and best["value"] is not None,
                        "count": count,
                        "count_text": plural(count, "finding"),
                        "href": href,
                        "codes": [m["criterion"] for m in members],
                    }
                )
            rows.append({"id": a, "title": titles.get(a, ""), "cells": row})
        return {
            "instruments": [{"id": i, "title": titles.get(i, "")} for i in ids],
            "rows": rows,
        }


    @staticmethod
    def _frameworks(view: dict, findings: list[dict]) -> dict:
        """The SDG targets and GCM objectives the set serves, each with its findings, and the
        matrix between targets (built like the instruments' matrix, in the view's order)."""
        by_fingerprint = {f["fingerprint"]: f for f in findings}
        targets = []
        for t in _list(view.get("targets")):
            if not isinstance(t, dict):
                continue
            members = [by_fingerprint[fp] for fp in map(_text, _list(t.get("findings"))) if fp in by_fingerprint]
            targets.append({
                "id": _text(t.get("id")), "title": _text(t.get("title")),
                "facts": [_text(i) for i in _list(t.get("facts"))],
                "findings": [{"anchor": f["anchor"], "criterion": f["criterion"], "score": f["score"]} for f in members],
            })
        ids = [t["id"] for t in targets]
        title_of = {t["id"]: t["title"] for t in targets}
        cells = {}
        for c in _list(view.get("interactions")):
            if isinstance(c, dict):
                cells[(_text(c.get("a")), _text(c.get("b")))] = c
        rows = []
        used = {i for pair in cells for i in pair}
        shown = [i for i in ids if i in used]
        for row_index, a in enumerate(shown):
            row = []
            for col_index, b in enumerate(shown):
                cell = cells.get((a, b)) or cells.get((b, a))
                if col_index < row_index:
                    row.append({"kind": "lower"})
                    continue
                if cell is None:
                    row.append({"kind": "empty", "a": a, "b": b})
                    continue
                members = [by_fingerprint[fp] for fp in map(_text, _list(cell.get("findings"))) if fp in by_fingerprint]
                worst, best = _score_view(cell.get("worst")), _score_view(cell.get("best"))
                row.append({
                    "kind": "cell", "a": a, "b": b, "worst": worst, "best": best,
                    "range": worst["value"] != best["value"] and best["value"] is not None,
                    "count_text": plural(len(members), "finding"),
                    "href": members[0]["anchor"] if members else None,
                    "codes": [m["criterion"] for m in members],
                })
            rows.append({"id": a, "title": title_of.get(a, ""), "cells": row})
        return {"targets": targets,
                "matrix": {"instruments": [{"id": i, "title": title_of.get(i, "")} for i in shown], "rows": rows}}


def _diagnostics_view(diagnostics: Any) -> list[dict]:
    out = []
    for d in _list(diagnostics):
        if not isinstance(d, dict):
            continue
        line, column = _int(d.get("line")), _int(d.get("column"))
        location = _text(d.get("file"))
        if line is not None:
            location += f":{line}" + (f":{column}" if column is not None else "")
        severity = _text(d.get("severity"))
        out.append(
            {
                "code": _text(d.get("code")),
                "severity": severity,
                "severity_cls": severity if severity in ("error", "warning", "note", "info") else "other",
                "message": _text(d.get("message")),
                "location": location,
                "help": _text(d.get("help")),
                "notes": [_text(n) for n in _list(d.get("notes"))],
                "labels": [
                    {"location": _location_text(label), "message": _text(label.get("message"))}
                    for label in _list(d.get("labels"))
                    if isinstance(label, dict)
                ],
            }
        )
    return out
