"""The documentation: its examples run, its generated pages in sync, its references exist.

- The examples of ``docs/language.md`` and ``docs/first-criterion.md`` (fenced blocks tagged
  ``coherence-example``, see :mod:`coherence_rules.commands.docs`) parse, check as the sets they
  make up, pass their tests, and report the diagnostics they show; console blocks print what the
  page shows.
- ``docs/vocabulary.md`` is generated from the loaded vocabulary: every type and enum of it is on
  the page, and the page is what the generator writes.
- Every relative link and every path in backticks that names a repository file exists, no page
  points to documents the repository does not hold, and every fenced block is closed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coherence_rules.commands import docs
from coherence_rules.commands.schema_view import anchor

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md")) + [ROOT / "README.md"]
RUN_PAGES = [DOCS / name for name in docs.RUN_PAGES]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ---- examples --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", RUN_PAGES, ids=_rel)
def test_examples_of_the_page_hold(page):
    text = page.read_text(encoding="utf-8")
    problems = docs.check_examples(text, _rel(page), ROOT)
    assert not problems, "\n".join(problems)


def test_every_construct_of_the_reference_has_a_checked_example():
    blocks = docs.fenced_blocks((DOCS / "language.md").read_text(encoding="utf-8"))
    examples = "\n".join(b.text for b in blocks if b.is_example)
    kinds = {b.kind for b in blocks if b.is_example}
    assert {"facts", "rules", "markdown", "csv", "console"} <= kinds
    for construct in ("accept ", "enum ", " open ", "extend enum", "extend type", "inherit ", "type ", "rule ",
                      "derive ", "describe:", "criterion ", "primary:", "about:", "detects:", "why:", "example:",
                      "resolution:", "test ", "given", "expect no", "expect count", " on [", "ruleset ",
                      "not ", "exists ", " in [", "== null", "!= null", " contains ", " intersects ",
                      " matches ", "today", "@", " or ", " and ", "not (", "<", ">=", ":quoted}", ":cited}",
                      ":raw}", "{{", ".level}", "list of", "ref ", "?"):
        assert construct in examples, f"no checked example uses {construct!r}"
    codes = {c for b in blocks if b.is_example for c in b.expect}
    assert {"E105", "E203", "E303", "E217", "E218", "E205", "W402", "W407", "W410"} <= codes


def test_a_wrong_example_is_reported(tmp_path):
    page = "\n".join([
        "```coherence-example facts set=s",
        "jurisdiction MU { level: nationa }",
        "```",
        "",
        "```coherence-example rules expect=E217",
        'ruleset t "T" { version: "1" }',
        "extend type measure { minors: bool? }",
        "```",
        "",
        "```coherence-example console set=s",
        "$ coherence lint s.policy",
        "no problems found",
        "```",
    ])
    problems = docs.check_examples(page, "page.md", tmp_path)
    assert any("unexpected E301" in p for p in problems), problems
    assert any("expected E217, not reported" in p for p in problems), problems
    assert any("prints something else" in p for p in problems), problems


def test_fenced_blocks_follow_commonmark():
    text = "````coherence-example markdown\n```policy\nx\n```\n````\n~~~\n```\n~~~\n```x`y\n"
    blocks = docs.fenced_blocks(text)
    assert [(b.tag, b.kind, b.text) for b in blocks] == [
        ("coherence-example", "markdown", "```policy\nx\n```"), ("", "", "```")]


def test_refreshing_the_outputs_changes_nothing_on_the_shipped_pages():
    for page in RUN_PAGES:
        text = page.read_text(encoding="utf-8")
        assert docs.refresh_outputs(text, ROOT) == text, f"run `python -m coherence_rules.commands.docs .` ({page.name})"


# ---- the vocabulary page -------------------------------------------------------------------------------------


def test_vocabulary_page_is_generated():
    page = (DOCS / "vocabulary.md").read_text(encoding="utf-8")
    assert page == docs.builtin_vocabulary_markdown(), "regenerate it: python -m coherence_rules.commands.docs ."
    assert DOCS / "vocabulary.md" in docs.generate(ROOT)


def test_vocabulary_page_documents_every_type_enum_field_and_member():
    from coherence_rules.session import Session, builtin_rulesets

    page = (DOCS / "vocabulary.md").read_text(encoding="utf-8")
    session = Session(rulesets=builtin_rulesets())
    session.run_until("check")
    schema = session.program.schema
    sections = re.split(r"^### ", page, flags=re.M)
    by_heading = {s.split("\n", 1)[0]: s for s in sections[1:]}
    derived = {r.derive_type for r in session.program.rules}
    for t in schema.types.values():
        section = by_heading[f"type `{t.name}`"]
        if t.doc:
            assert t.doc in section
        for f in t.fields.values():
            row = next(line for line in section.splitlines() if line.startswith(f"| `{f.name}` |"))
            assert row.split("|")[3].strip() == ("no" if f.optional else "yes"), row
        for field_name, via in t.inherits:
            assert f"`{field_name}` from the fact `{via}` points to" in section
        assert ("**Derived**" in section) == (t.name in derived), t.name
    for e in schema.enums.values():
        section = by_heading[f"enum `{e.name}`"]
        assert ("**Open**" in section) == e.open
        for m in e.members:
            assert f"| `{m}` | {e.label(m)} |" in section, (e.name, m)


# ---- references ------------------------------------------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_TOP = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
_MISSING_DOCUMENTS = ("LANGUAGE.md", "CRITERIA.md", "DESIGN.md", "ENGINE_NOTES", "STYLE.md")


def _prose(text: str) -> str:
    """The text outside fenced blocks (code in blocks is not a reference)."""
    lines = text.split("\n")
    for b in reversed(docs.fenced_blocks(text)):
        lines[b.start - 1:b.end + 1] = [""] * (b.end + 1 - b.start + 1)
    return "\n".join(lines)


def _slugs(text: str) -> set[str]:
    """The anchors GitHub makes for the headings of a page."""
    out: set[str] = set()
    for line in _prose(text).split("\n"):
        m = re.match(r"^#{1,6} (.*)$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        base, n = slug, 0
        while slug in out:
            n += 1
            slug = f"{base}-{n}"
        out.add(slug)
    return out


def _looks_like_repository_path(token: str) -> bool:
    if any(c in token for c in "<>*{}$ ") or "..." in token or token.startswith(("-", "/", "~")):
        return False
    first = token.split("/")[0]
    return ("/" in token and first in _TOP) or (token in _TOP and "." in token)


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_links_and_paths_exist(page):
    text = page.read_text(encoding="utf-8")
    prose = _prose(text)
    problems = []
    for m in _LINK.finditer(prose):
        target = m.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"link to {target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in _slugs(dest.read_text(encoding="utf-8")):
            problems.append(f"link to {target}: no such heading in {dest.name}")
    for m in _CODE.finditer(prose):
        token = m.group(1).strip().rstrip(".,:;")
        if _looks_like_repository_path(token) and not (ROOT / token).exists():
            problems.append(f"`{token}`: no such file in the repository")
    for name in _MISSING_DOCUMENTS:
        if name in text:
            problems.append(f"mentions {name}, which the repository does not hold")
    for machine in ("/work/", "/tmp/", "/home/"):
        if machine in text:
            problems.append(f"mentions a machine path ({machine})")
    assert not problems, f"{_rel(page)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_fenced_block_is_closed(page):
    text = page.read_text(encoding="utf-8")
    lines = text.split("\n")
    for b in docs.fenced_blocks(text):
        assert b.end < len(lines), f"{_rel(page)}:{b.line}: the block is never closed"


def test_diagnostics_page_keeps_each_example_in_its_block():
    """E118's example holds a fence: it must not close the block it is shown in, or the next
    heading breaks."""
    from coherence_rules.diagnostics import CODES

    text = (DOCS / "diagnostics.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (\S+):", _prose(text), flags=re.M)
    assert headings == list(CODES)
    blocks = docs.fenced_blocks(text)
    assert [b.text for b in blocks] == [doc.example for doc in CODES.values()]


def test_the_checker_finds_a_missing_file(tmp_path):
    assert _looks_like_repository_path("docs/language.md")
    assert _looks_like_repository_path("rulesets/core.rules")
    assert _looks_like_repository_path("README.md")
    assert not _looks_like_repository_path("policies/...")
    assert not _looks_like_repository_path("tests/golden/<CODE>/")
    assert not (ROOT / "docs/nothing-here.md").exists()
    assert "language.md" in {p.name for p in PAGES}
    assert anchor("type", "sdg_target") == "type-sdg_target" in _slugs("### type `sdg_target`\n")


def test_no_shipped_text_names_a_machine_path():
    """The project speaks of itself: no README, policy file or ruleset names a path of the machine
    it was written on (sources are cited by dataset and id, or relative to the repository)."""
    shipped = [p for p in ROOT.joinpath("policies").rglob("*") if p.suffix in (".md", ".policy")]
    shipped += list(ROOT.joinpath("rulesets").glob("*.rules")) + [ROOT / "README.md"]
    found = [f"{_rel(p)}: {machine}" for p in shipped for machine in ("/work/", "/tmp/", "/home/", "/root/")
             if machine in p.read_text(encoding="utf-8")]
    assert not found, "\n".join(found)
