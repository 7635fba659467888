"""``coherence explain``: why a criterion fired (its proofs) or why it did not.

The "why not" view is computed with the reference evaluator's semantics: for each positive
pattern in order, the candidate facts and the first top-level condition each one failed, given
the earliest partial match of the patterns before it; when every positive pattern matches, the
`not` pattern that blocked (with the blocking fact) or the `exists` pattern that found nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from ..checker.program import AllOf, CriterionIR, FactRecord, check
from ..diagnostics import Diagnostic, did_you_mean
from ..engine.semantics import condition_text, holds, split_patterns


def _conjuncts(c) -> list:
    if c is None:
        return []
    if isinstance(c, AllOf):
        out = []
        for i in c.items:
            out += _conjuncts(i)
        return out
    return [c]


def why_not(crit: CriterionIR, facts: list[FactRecord], store: dict[str, FactRecord], today: dt.date,
            only: list[str]) -> list[str]:
    positive, guards = split_patterns(crit.patterns)
    by_type: dict[str, list[FactRecord]] = {}
    for f in sorted(facts, key=lambda f: f.id):
        by_type.setdefault(f.type, []).append(f)
    lines = []
    env: dict[str, FactRecord] = {}
    bound: list[str] = []
    for p in positive:
        cands = [f for f in by_type.get(p.type, []) if f.id not in bound]
        preferred = [f for f in cands if f.id in only]
        if preferred:
            cands = preferred + [f for f in cands if f.id not in only]
        header = f"pattern {p.binding}: {p.type}"
        if not cands:
            lines.append(f"{header}: no fact of type {p.type}")
            return lines
        chosen = None
        detail = []
        for cand in cands:
            failed = None
            env[p.binding] = cand
            for conj in _conjuncts(p.cond):
                if not holds(conj, cand, env, store, today):
                    failed = conj
                    break
            if failed is None:
                detail.append(f"  {cand.id}: matches")
                if chosen is None:
                    chosen = cand
            else:
                detail.append(f"  {cand.id}: fails `{condition_text(failed, env, store, today)}`")
            env.pop(p.binding, None)
        shown = detail[:25] + ([f"  ... and {len(detail) - 25} more"] if len(detail) > 25 else [])
        if chosen is None:
            lines.append(f"{header}: no candidate matches" + (f" (earlier patterns: "
                         f"{', '.join(f'{k}={v.id}' for k, v in env.items())})" if env else ""))
            lines += shown
            return lines
        lines.append(f"{header}: {chosen.id} matches")
        env[p.binding] = chosen
        bound.append(chosen.id)
    for g in guards:
        witness = None
        for cand in by_type.get(g.type, []):
            if cand.id in bound:
                continue
            if g.cond is None or holds(g.cond, cand, env, store, today):
                witness = cand
                break
        text = f"{g.type} where {condition_text(g.cond, env, store, today)}" if g.cond is not None else g.type
        if g.kind == "not" and witness is not None:
            lines.append(f"not {text}: blocked by {witness.id}"
                         + (f" ({witness.span.file}:{witness.span.line})" if witness.span else ""))
            return lines
        if g.kind == "exists" and witness is None:
            lines.append(f"exists {text}: no such fact")
            return lines
        lines.append(f"{g.kind} {text}: satisfied")
    lines.append("all patterns match for this combination; a residual join condition failed for the others")
    return lines


def explain_criterion(code: str, paths: list, rulesets: Optional[list], ids: list[str], as_of: Optional[dt.date]):
    """Returns ``(text, diagnostics, sources, status)`` with status ``ok`` or ``bad``."""
    from ..engine import run
    from .build import build_findings
    from ..pipeline import load
    from ..render.text import render_finding

    as_of = as_of or dt.date.today()
    ws = load(paths, rulesets)
    program = check(ws.rule_modules + ws.policy_modules)
    diags = list(ws.diagnostics) + program.diagnostics
    if any(d.is_error for d in diags):
        return "", diags, ws.sources, "bad"
    crit = next((c for c in program.criteria if c.code == code), None)
    if crit is None:
        hint = did_you_mean(code, [c.code for c in program.criteria])
        return "", diags + [Diagnostic.make("E211", f"unknown criterion '{code}'", None, help=hint)], ws.sources, "bad"
    result = run(program, program.facts, as_of, engine="durable")
    store = {f.id: f for f in program.facts}
    store.update(result.derived)
    findings, _, _ = build_findings(program, result, store, as_of)
    mine = [f for f in findings if f.criterion == code]
    if ids:
        mine = [f for f in mine if all(i in set(f.facts) | {d["id"] for d in f.fact_details} for i in ids)]
    unknown = [i for i in ids if i not in store]
    for i in unknown:
        diags.append(Diagnostic.make("E203", f"unknown fact '{i}'", None, help=did_you_mean(i, store)))
    if unknown:
        return "", diags, ws.sources, "bad"
    if mine:
        parts = [render_finding(f, ws.sources, explain=True) for f in mine]
        head = f"{code} fired {len(mine)} time{'s' if len(mine) != 1 else ''}" + (f" on {', '.join(ids)}" if ids else "")
        return head + "\n\n" + "\n\n".join(parts), diags, ws.sources, "ok"
    lines = [f"{code} did not fire" + (f" on {', '.join(ids)}" if ids else "") + f": {crit.title}", ""]
    lines += why_not(crit, list(store.values()), store, as_of, ids)
    return "\n".join(lines), diags, ws.sources, "ok"
