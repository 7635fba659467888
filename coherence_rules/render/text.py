"""Text output of ``coherence check``: rustc-style findings, the proof as an indented tree under
``--explain``, and a summary line."""

from __future__ import annotations

from typing import Optional

from ..diagnostics import SourceLines, render_text as render_diagnostic
from ..findings.build import Finding, ProofNode
from ..findings.report import Report
from . import signed


def kind_word(score: int) -> str:
    return "conflict" if score < 0 else "synergy" if score > 0 else "note"


def _loc(loc) -> str:
    return f"{loc.file}:{loc.line}" if loc is not None else "derived"


def render_finding(f: Finding, sources: Optional[SourceLines], explain: bool) -> str:
    out = [f"{kind_word(f.score)}[{f.criterion}]: {f.title} ({signed(f.score)} {f.label}, {f.dimension})"]
    loc = f.location
    gutter = len(str(loc.line)) if loc else 1
    pad = " " * gutter
    if loc is not None:
        out.append(f"{pad}--> {loc.file}:{loc.line}:{loc.column}")
        src = sources.line(loc.file, loc.line) if sources else None
        if src is not None:
            out.append(f"{pad} |")
            out.append(f"{loc.line} | {src.rstrip()[:200]}")
            out.append(f"{pad} |")
    out.append(f"{pad} = {f.message}")
    if f.status != "open" and f.acceptance is not None:
        until = f" until {f.acceptance.until.isoformat()}" if f.acceptance.until else ""
        what = "accepted" if f.status == "accepted" else "acceptance expired"
        out.append(f"{pad} = status: {what}{until}: {f.acceptance.reason}")
    out.append(f"{pad} = advice: {f.advice}")
    facts = ", ".join(f"{d['id']} ({_loc_dict(d['location'])})" for d in f.fact_details if not d["derived"])
    if facts:
        out.append(f"{pad} = facts: {facts}")
    if explain:
        out.append(f"{pad} = proof:")
        for line in render_tree(f.trace):
            out.append(f"{pad}   {line}")
    return "\n".join(out)


def _loc_dict(d: Optional[dict]) -> str:
    return f"{d['file']}:{d['line']}" if d else "derived"


def _node_label(n: ProofNode) -> str:
    if n.kind == "criterion":
        return f"{n.id}: {n.text}"
    if n.kind == "fact":
        cite = f" [{n.cite}]" if n.cite else ""
        return f"{n.text} = {n.id} ({_loc(n.location)}){cite}"
    if n.kind == "derived":
        return f"{n.text or n.type} = {n.id}, derived"
    if n.kind == "derivation":
        return f"by rule {n.rule}: {n.text}"
    if n.kind == "absent":
        return f"absent: {n.text}"
    if n.kind == "exists":
        return f"exists: {n.text}"
    return n.text or n.kind


def render_tree(node: ProofNode) -> list[str]:
    lines = [_node_label(node)]

    def walk(n: ProofNode, prefix: str) -> None:
        for i, c in enumerate(n.children):
            last = i == len(n.children) - 1
            lines.append(prefix + ("└─ " if last else "├─ ") + _node_label(c))
            walk(c, prefix + ("   " if last else "│  "))

    walk(node, "")
    return lines


def summary_line(report: Report) -> str:
    s = report.summary()
    parts = [f"{s['findings']} finding{'s' if s['findings'] != 1 else ''}"]
    if s["findings"]:
        conflicts = [f for f in report.findings if f.score < 0]
        by = {k: sum(1 for f in conflicts if f.status == k) for k in ("open", "accepted", "expired")}
        parts.append(f"{len(conflicts)} conflict{'s' if len(conflicts) != 1 else ''} "
                     f"({by['open']} open, {by['accepted']} accepted, {by['expired']} expired)")
        parts.append(f"{s['synergies']} synerg{'ies' if s['synergies'] != 1 else 'y'}")
    idx = s["coherence_index"]
    tail = f"; coherence index {idx:+.2f}" if idx is not None else ""
    return (", ".join(parts) + f" in {s['facts']} facts, {s['criteria_run']} criteria" + tail)


def render(report: Report, explain: bool = False) -> str:
    parts = [render_finding(f, report.sources, explain) for f in report.findings]
    parts.append(summary_line(report))
    return "\n\n".join(parts) + "\n"


def render_diagnostics(report: Report) -> str:
    return "\n\n".join(render_diagnostic(d, report.sources) for d in report.diagnostics)
