"""``coherence explain``: why a criterion fired (its proofs) or why it did not.

The "why not" view is computed with the reference evaluator's semantics: for each positive
pattern in order, the candidate facts and the first top-level condition each one failed, given
the earliest partial match of the patterns before it; when every positive pattern matches, the
`not` pattern that blocked (with the blocking fact) or the `exists` pattern that found nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from ..checker.ir import CriterionIR, FactRecord
from ..diagnostics import Diagnostic, did_you_mean
from ..engine.semantics import condition_text, conjuncts, holds, split_patterns
from ..render import plural


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
            for conj in (conjuncts(p.cond) if p.cond is not None else ()):
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
    chosen = ", ".join(f"{k}={v.id}" for k, v in env.items())
    lines.append(f"these facts match every pattern ({chosen}): {crit.code} fired on them")
    return lines


@dataclass
class Explanation:
    """What ``explain`` says about one criterion: ``text`` for people, and whether the criterion
    ``fired`` on the facts asked about (on any facts when none were named)."""

    text: str
    fired: bool


def explain_criterion(session, code: str, ids: list[str]) -> Optional[Explanation]:
    """Why criterion ``code`` fired on the policy set of ``session`` (its proofs), or why it did not
    (for each pattern, the candidates and the first condition each failed). ``ids`` restrict the
    findings and candidates to those involving these facts. None when the set does not check, the
    criterion or a fact id is unknown, or the run stopped: ``session.diagnostics`` then say why."""
    from ..render.text import render_finding

    program = session.program
    if program is None or session.stopped in ("parse", "check"):
        return None
    crit = next((c for c in program.criteria if c.code == code), None)
    if crit is None:
        session.add_diagnostics([Diagnostic.make("E211", f"unknown criterion '{code}'", None,
                                                 help=did_you_mean(code, [c.code for c in program.criteria]))])
        return None
    known = {f.id for f in program.facts}
    unknown = [i for i in ids if i not in known]
    if unknown:
        session.add_diagnostics([Diagnostic.make("E203", f"unknown fact '{i}'", None, help=did_you_mean(i, known))
                                 for i in unknown])
        return None
    report = session.report
    if session.stopped is not None:
        return None
    fired = [f for f in report.findings if f.criterion == code]
    mine = [f for f in fired if all(i in set(f.facts) | {d["id"] for d in f.fact_details} for i in ids)]
    on = f" on {', '.join(ids)}" if ids else ""
    if mine:
        parts = [render_finding(f, session.sources, explain=True) for f in mine]
        return Explanation(f"{code} fired {plural(len(mine), 'time')}{on}\n\n" + "\n\n".join(parts), True)
    result = session.result
    store = {f.id: f for f in program.facts}
    store.update(result.derived)
    lines = []
    if fired:
        lines.append(f"{code} fired {plural(len(fired), 'time')}, but on none of {', '.join(ids)}: {crit.title}")
        lines += [f"  fired on {', '.join(f.facts)}" for f in fired[:10]]
        lines += [f"  ... and {len(fired) - 10} more"] if len(fired) > 10 else []
        types = {p.type for p in crit.patterns}
        for i in ids:
            if store[i].type not in types:
                lines.append(f"{i} is {_a(store[i].type)}: no pattern of {code} matches {_a(store[i].type)}")
    else:
        lines.append(f"{code} did not fire{on}: {crit.title}")
    lines.append("")
    lines += why_not(crit, list(store.values()), store, session.as_of, ids)
    return Explanation("\n".join(lines), False)


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
