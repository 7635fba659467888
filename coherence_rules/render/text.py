"""Text output of ``coherence check``: rustc-style findings, the proof as an indented tree under
``--explain``, and a summary line."""

from __future__ import annotations

from typing import Optional

from ..diagnostics import SourceLines, render_text as render_diagnostic
from ..findings.build import Finding, ProofNode
from ..findings.report import Report
from . import plural, signed


def kind_word(score: int) -> str:
    return "conflict" if score < 0 else "synergy" if score > 0 else "note"


def _loc(loc) -> str:
    return f"{loc.file}:{loc.line}" if loc is not None else "derived"


def render_finding(f: Finding, sources: Optional[SourceLines], explain: bool,
                   contested_by: Optional[list[Finding]] = None) -> str:
    """One finding, rustc-style; ``contested_by``: the conflicts on one of its facts that keep a
    synergy out of the coherence index (:meth:`Report.contested`)."""
    out = [f"{kind_word(f.score)}[{f.criterion}]: {f.title} ({signed(f.score)} {f.label}, {f.dimension_label or f.dimension})"]
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
        until = f.acceptance.until.isoformat() if f.acceptance.until else None
        if f.status == "accepted":
            what = f"accepted until {until}" if until else "accepted"
        else:
            what = f"the accepted trade-off expired on {until}" if until else "the accepted trade-off expired"
        out.append(f"{pad} = status: {what}: {f.acceptance.reason}")
    if contested_by:
        against = ", ".join(f"{c.criterion} on {', '.join(c.facts)}" for c in contested_by)
        out.append(f"{pad} = contested by {against}: shown, and left out of the coherence index")
    out.append(f"{pad} = advice: {f.advice}")
    facts = ", ".join(f"{d['id']} ({_loc_dict(d['location'])})" for d in f.fact_details)
    if facts:
        out.append(f"{pad} = facts: {facts}")
    if explain:
        out.append(f"{pad} = proof:")
        for line in render_tree(f.trace):
            out.append(f"{pad}   {line}")
        texts = _article_texts(f, sources)
        if texts:
            out.append(f"{pad} = the text of the articles:")
            out += [f"{pad}   {line}" for line in texts]
    return "\n".join(out)


def _article_texts(f: Finding, sources: Optional[SourceLines]) -> list[str]:
    """For each fact the finding names, the text it encodes: the Markdown prose above its block,
    or the fact whole (:mod:`coherence_rules.findings.context`)."""
    from ..findings.context import fact_context

    if sources is None:
        return []
    out = []
    for d in f.fact_details:
        loc = d.get("location")
        if not loc:
            continue
        ctx = fact_context(sources.text(loc["file"]), loc["file"], loc["line"])
        if ctx is None:
            continue
        out.append(f"{d['id']} ({loc['file']}:{loc['line']}):")
        if ctx.heading:
            out.append(f"  {ctx.heading}")
        out += [f"  {t}" for _, t in ctx.lines]
    return out


def _loc_dict(d: Optional[dict]) -> str:
    return f"{d['file']}:{d['line']}" if d else "no location"


def _node_label(n: ProofNode) -> str:
    if n.kind == "criterion":
        return f"{n.id}: {n.text}"
    if n.kind == "fact":
        cite = f" [{n.cite}]" if n.cite else ""
        return f"{n.text} = {n.id} ({_loc(n.location)}){cite}"
    if n.kind == "reference":
        cite = f" [{n.cite}]" if n.cite else ""
        return f"{n.text} = {n.id}, reference data of the ruleset{cite}"
    if n.kind == "derived":
        return f"derived: {n.text}"
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
    return (", ".join(parts) + f" in {plural(s['facts'], 'fact')}, {plural(s['criteria_run'], 'criterion', 'criteria')}"
            + tail)


def _scores(entry: dict, codes: dict[str, str]) -> str:
    if not entry["findings"]:
        return "no findings"
    span = signed(entry["worst"]) if entry["worst"] == entry["best"] else \
        f"{signed(entry['worst'])} to {signed(entry['best'])}"
    names = sorted({codes[fp] for fp in entry["findings"] if fp in codes})
    return f"{span} ({', '.join(names)})"


def framework_lines(report: Report) -> list[str]:
    """The view by global framework (SDG targets, GCM objectives), when the set names any: each
    target with the facts serving it and the scores of the findings involving them, then the
    pairs of targets between whose facts a finding stands."""
    view = report.frameworks()
    if not view["targets"]:
        return []
    codes = {f.fingerprint: f.criterion for f in report.findings}
    counts = {}
    for t in view["targets"]:
        counts[t["framework"]] = counts.get(t["framework"], 0) + 1
    named = " and ".join(plural(n, f"{k} target" if k == "SDG" else f"{k} objective") for k, n in counts.items())
    width = max(len(t["id"]) for t in view["targets"])
    lines = [f"Global frameworks: the set serves {named}"]
    for t in view["targets"]:
        lines.append(f"  {t['id']:<{width}}  {t['title']}")
        found = f"findings: {_scores(t, codes)}" if t["findings"] else "no findings"
        lines.append(f"  {'':<{width}}  served by {', '.join(t['facts'])}; {found}")
    if view["interactions"]:
        lines.append("  between targets (the worst and best score of the findings between their facts):")
        for c in view["interactions"]:
            pair = f"{c['a']}, between two facts serving it" if c["a"] == c["b"] else f"{c['a']} and {c['b']}"
            lines.append(f"    {pair}: {_scores(c, codes)}")
    return lines


def render(report: Report, explain: bool = False) -> str:
    contested = report.contested()
    by_fingerprint = {f.fingerprint: f for f in report.findings}
    parts = [render_finding(f, report.sources, explain, [by_fingerprint[c] for c in contested.get(f.fingerprint, [])])
             for f in report.findings]
    frameworks = framework_lines(report)
    if frameworks:
        parts.append("\n".join(frameworks))
    parts.append(summary_line(report))
    return "\n\n".join(parts) + "\n"


def render_diagnostics(report: Report) -> str:
    return "\n\n".join(render_diagnostic(d, report.sources) for d in report.diagnostics)
