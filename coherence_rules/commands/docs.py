"""Documentation generated from the registries: criteria (``coherence criteria``,
``docs/criteria.md``) and diagnostic codes (``docs/diagnostics.md``).

``python -m coherence_rules.commands.docs`` rewrites both pages; a test keeps them in sync.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from ..checker.program import CriterionIR
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


def builtin_criteria() -> list[CriterionIR]:
    from ..checker.program import check
    from ..pipeline import builtin_rulesets, load

    ws = load([], builtin_rulesets())
    return check(ws.rule_modules).criteria


def generate(root: Path) -> dict[Path, str]:
    from ..diagnostics import codes_markdown

    return {root / "docs" / "criteria.md": criteria_markdown(builtin_criteria()),
            root / "docs" / "diagnostics.md": codes_markdown()}


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    for path, text in generate(root).items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
