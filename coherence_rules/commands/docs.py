"""Documentation generated from the registries: criteria (``coherence criteria``,
``docs/criteria.md``) and diagnostic codes (``docs/diagnostics.md``).

``python -m coherence_rules.commands.docs`` rewrites both pages; a test keeps them in sync.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Optional

from ..checker.ir import CriterionIR
from ..findings.report import dump_json
from ..render import signed


def criterion_dict(c: CriterionIR) -> dict:
    return {"code": c.code, "title": c.title, "dimension": c.dimension, "score": c.score, "label": c.label,
            "source": c.source, "message": c.message, "advice": c.advice, "ruleset": c.ruleset,
            "location": {"file": c.span.file, "line": c.span.line}, **{k: v for k, v in c.docs.items()}}


def criteria_table(crits: list[CriterionIR]) -> str:
    from tabulate import tabulate

    rows = [[c.code, signed(c.score), c.dimension, c.title, textwrap.shorten(c.source, 60)] for c in crits]
    return tabulate(rows, headers=["code", "score", "dimension", "title", "source"], tablefmt="simple")


_SECTIONS = (("detects", "What it detects"), ("why", "Why it matters"), ("example", "Example"),
             ("resolution", "How a drafter resolves it"))


def criterion_text(c: CriterionIR) -> str:
    out = [f"{c.code}: {c.title}", "", f"score {signed(c.score)} ({c.label}), dimension {c.dimension}, "
           f"ruleset {c.ruleset or '-'}", f"source: {c.source}", ""]
    for key, heading in _SECTIONS:
        if key in c.docs:
            out += [heading, textwrap.fill(c.docs[key], 96, initial_indent="  ", subsequent_indent="  "), ""]
    out += ["Message", "  " + c.message, "", "Advice", textwrap.fill(c.advice, 96, initial_indent="  ",
                                                                      subsequent_indent="  ")]
    return "\n".join(out)


def criterion_markdown(c: CriterionIR, level: int = 2) -> str:
    h = "#" * level
    out = [f"{h} {c.code}: {c.title}", "", f"Score **{signed(c.score)}** ({c.label}); dimension **{c.dimension}**; "
           f"ruleset `{c.ruleset or '-'}`.", "", f"Source: {c.source}", ""]
    for key, heading in _SECTIONS:
        if key in c.docs:
            out += [f"{h}# {heading}", "", c.docs[key], ""]
    out += [f"{h}# Message and advice", "", f"> {c.message}", "", c.advice, ""]
    return "\n".join(out)


def criteria_markdown(crits: list[CriterionIR]) -> str:
    out = ["# Criteria", "",
           "Generated from the rulesets by `python -m coherence_rules.commands.docs`; `coherence criteria CODE` prints "
           "the same page. A test keeps this file in sync.", "",
           "| code | score | dimension | title |", "| --- | --- | --- | --- |"]
    for c in crits:
        out.append(f"| [{c.code}](#{c.code.lower()}-{_anchor(c.title)}) | {signed(c.score)} | {c.dimension} | {c.title} |")
    out.append("")
    for c in crits:
        out.append(criterion_markdown(c))
    return "\n".join(out)


def _anchor(title: str) -> str:
    return "".join(ch for ch in title.lower().replace(" ", "-") if ch.isalnum() or ch == "-")


def criteria_view(crits: list[CriterionIR], code: Optional[str], fmt: str) -> Optional[str]:
    """``coherence criteria [CODE]``: the list of criteria, or one criterion's page, in ``fmt``
    (text, json or markdown); None when no criterion has that code."""
    if code:
        c = next((c for c in crits if c.code == code), None)
        if c is None:
            return None
        if fmt == "json":
            return dump_json(criterion_dict(c)).rstrip("\n")
        return criterion_markdown(c) if fmt == "markdown" else criterion_text(c)
    if fmt == "json":
        return dump_json([criterion_dict(c) for c in crits]).rstrip("\n")
    return criteria_markdown(crits) if fmt == "markdown" else criteria_table(crits)


def unknown_criterion(code: str, crits: list[CriterionIR]) -> str:
    from ..diagnostics import did_you_mean

    hint = did_you_mean(code, [c.code for c in crits])
    return f"unknown criterion '{code}'" + (f"; {hint}" if hint else "")


def builtin_criteria() -> list[CriterionIR]:
    """Every criterion of the shipped rulesets."""
    from ..session import Session, builtin_rulesets

    return Session(rulesets=builtin_rulesets()).program.criteria


def generate(root: Path) -> dict[Path, str]:
    from ..diagnostics import codes_markdown

    return {root / "docs" / "criteria.md": criteria_markdown(builtin_criteria()),
            root / "docs" / "diagnostics.md": codes_markdown()}


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    for path, text in generate(root).items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
