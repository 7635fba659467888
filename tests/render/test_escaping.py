"""Text from policy files reaches people only escaped for their medium (docs/security.md).

A copy of the Mauritius set, in a directory whose name holds a space, ``#`` and ``%``, gets a
title, a citation and an article text carrying terminal escape sequences (clear the screen, an
OSC 8 link), a right-to-left override, a Markdown link to ``javascript:``, a remote image and an
HTML tag. Every command that shows findings then runs in every format, and:

- no text output (text, table, Markdown, explain, lint, batch, compare, diff, topics) carries a
  character a terminal would act on; JSON keeps the data, as JSON escapes that read back the same;
- the Markdown outputs, rendered by a Markdown parser, make no link, image or HTML element of
  the payloads;
- every SARIF output validates against the official SARIF 2.1.0 schema, its file locations
  included, and the locations decode back to the files.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main
from coherence_rules.render.escape import TERMINAL_CONTROLS, markdown, markdown_code, terminal, uri

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"

ESCAPES = "\x1b[2J\x1b]8;;http://evil.example/\x1b\\click here\x1b]8;;\x1b\\\x9b31m"
BIDI = "\u202eexe.\u2066"
MARKDOWN = "[see](javascript:alert(1)) ![x](http://evil.example/x.png) <img src=x onerror=alert(1)>"
TITLE = "Annual cap on work permits for foreign nurses"
HOSTILE_TITLE = f"{TITLE} {ESCAPES} {BIDI} {MARKDOWN}"


@pytest.fixture(scope="module")
def hostile_set(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("escaping")
    target = base / "set #1 of 50% done"
    shutil.copytree(ROOT / "policies" / "mauritius", target)
    policy = target / "instruments.policy"
    text = policy.read_text(encoding="utf-8")
    assert f'"{TITLE}"' in text
    quoted = '"' + HOSTILE_TITLE.replace("\\", "\\\\").replace('"', '\\"') + '"'
    text = text.replace(f'"{TITLE}"', quoted, 1)
    policy.write_text(text, encoding="utf-8")
    old = base / "old"
    shutil.copytree(ROOT / "policies" / "mauritius", old)
    return target


def _run(args, cwd) -> tuple[int, str]:
    # color=True: click would otherwise strip escape sequences and hide what a terminal receives
    result = CliRunner().invoke(main, args, color=True, catch_exceptions=False)
    return result.exit_code, result.output


COMMANDS = {
    "check text": ["check", "{set}", "--as-of", "2026-11-23"],
    "check explain": ["check", "{set}", "--as-of", "2026-11-23", "--explain"],
    "check table": ["check", "{set}", "--as-of", "2026-11-23", "-f", "table"],
    "check markdown": ["check", "{set}", "--as-of", "2026-11-23", "-f", "markdown"],
    "explain": ["explain", "ADM-SECTOR", "{set}", "--as-of", "2026-11-23"],
    "lint": ["lint", "{set}"],
    "batch table": ["batch", "{set}", "{old}", "--as-of", "2026-11-23", "-q"],
    "batch markdown": ["batch", "{set}", "{old}", "--as-of", "2026-11-23", "-q", "-f", "markdown"],
    "compare": ["compare", "{old}", "{set}", "--as-of", "2026-11-23"],
    "compare markdown": ["compare", "{old}", "{set}", "--as-of", "2026-11-23", "-f", "markdown"],
    "diff": ["diff", "{old}", "{set}", "--as-of", "2026-11-23"],
    "diff markdown": ["diff", "{old}", "{set}", "--as-of", "2026-11-23", "-f", "markdown"],
}


def _args(name, hostile_set):
    return [a.format(set=str(hostile_set), old=str(hostile_set.parent / "old")) for a in COMMANDS[name]]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_text_outputs_carry_no_terminal_controls(name, hostile_set):
    code, out = _run(_args(name, hostile_set), hostile_set.parent)
    assert code in (0, 1), out
    assert "Traceback" not in out
    found = TERMINAL_CONTROLS.findall(out)
    assert not found, f"{name} writes {sorted(set(map(repr, found)))} to the terminal"
    if name.startswith(("check", "explain")):
        assert "\\x1b[2J" in out or "\\x1b" in out, f"{name} does not show the escaped title:\n{out[:2000]}"


def test_json_keeps_the_data(hostile_set):
    code, out = _run(["check", str(hostile_set), "--as-of", "2026-11-23", "-f", "json"], hostile_set.parent)
    assert code == 1
    assert not TERMINAL_CONTROLS.findall(out)
    doc = json.loads(out)
    titles = {d["title"] for f in doc["findings"] for d in f["fact_details"]}
    assert HOSTILE_TITLE in titles


def _rendered(md: str) -> str:
    mistune = pytest.importorskip("mistune")
    return mistune.create_markdown(plugins=["table", "strikethrough"], escape=False)(md)


@pytest.mark.parametrize("name", [n for n in sorted(COMMANDS) if n.endswith("markdown")])
def test_markdown_makes_no_link_image_or_element_from_input(name, hostile_set):
    code, out = _run(_args(name, hostile_set), hostile_set.parent)
    assert code in (0, 1), out
    html = _rendered(out)
    assert "javascript:" not in re.findall(r'href="([^"]*)"', html).__str__()
    assert "<img" not in html
    assert "evil.example" not in " ".join(re.findall(r'(?:href|src)="([^"]*)"', html))
    assert "<script" not in html and "onerror=" not in re.sub(r"&lt;img src=x onerror=alert\(1\)&gt;", "", html)


def test_markdown_escapes_render_as_the_text():
    mistune = pytest.importorskip("mistune")
    md = mistune.create_markdown(plugins=["table"], escape=False)
    for text in [MARKDOWN, "# not a heading", "- not a list", "1. not a list", "a | b", "*x* _y_ `z` ~w~",
                 "AT&T <b>bold</b>"]:
        html = md(markdown(text))
        assert "<a " not in html and "<img" not in html and "<h1" not in html and "<li" not in html
        assert "<em" not in html and "<code" not in html and "<b>" not in html, (text, html)
    for text in ["plain", "a`b", "``x``", "`x"]:
        html = md(markdown_code(text))
        inner = re.search(r"<code>(.*)</code>", html).group(1)
        assert inner == text.replace("&", "&amp;").replace("<", "&lt;"), (text, html)


def test_terminal_escape_keeps_lines_and_tabs():
    assert terminal("a\tb\nc") == "a\tb\nc"
    assert terminal("\x1b[2J") == "\\x1b[2J"
    assert terminal("\u202e") == "\\u202e"
    assert terminal("\x9b") == "\\x9b"


def _sarif_validator():
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("rfc3986_validator")  # jsonschema checks `uri-reference` only with it
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    # The schema is draft-04; its `uri-reference` format is checked by the draft-7 checker.
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _sarif_uris(doc) -> list[str]:
    uris = []
    for run in doc["runs"]:
        for r in run["results"]:
            for loc in r.get("locations", []) + r.get("relatedLocations", []):
                uris.append(loc["physicalLocation"]["artifactLocation"]["uri"])
    return uris


def test_sarif_of_a_set_with_spaces_hash_and_percent_validates(hostile_set):
    validator = _sarif_validator()
    code, out = _run(["check", str(hostile_set), "--as-of", "2026-11-23", "-f", "sarif"], hostile_set.parent)
    assert code == 1
    doc = json.loads(out)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    uris = _sarif_uris(doc)
    assert uris and all(" " not in u and "#" not in u for u in uris)
    files = {unquote(u.removeprefix("file://")) for u in uris}
    assert all(Path(f).is_file() for f in files), files


@pytest.mark.parametrize("example", ["mauritius", "kenya-ncm", "sweden"])
def test_sarif_of_every_example_validates(example, monkeypatch):
    validator = _sarif_validator()
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["check", f"policies/{example}", "--as-of", "2026-11-23", "-f", "sarif"])
    doc = json.loads(result.output)
    assert doc["runs"][0]["results"], example
    errors = list(validator.iter_errors(doc))
    assert not errors, errors[0].message


def test_sarif_of_diagnostics_validates(tmp_path, monkeypatch):
    validator = _sarif_validator()
    bad = tmp_path / "a b#c" / "permits.policy"
    bad.parent.mkdir()
    bad.write_text('measure M "Cap" { area: admission  effect: restrict  jurisdiction: NOWHERE }\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "a b#c", "-f", "sarif"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)  # the diagnostics also go to stderr
    assert any(r["ruleId"].startswith("E") for r in doc["runs"][0]["results"]), result.output
    assert not list(validator.iter_errors(doc))
    assert "a%20b%23c/permits.policy" in _sarif_uris(doc)


def test_uri_encodes_what_a_uri_reference_cannot_hold():
    assert uri("policies/a b/#1%.policy") == "policies/a%20b/%231%25.policy"
    assert uri("/tmp/x y.policy") == "file:///tmp/x%20y.policy"
    assert uri("policies/mauritius/instruments.policy") == "policies/mauritius/instruments.policy"


def test_html_advice_sets_quoted_code_without_unescaping():
    pytest.importorskip("jinja2")
    from coherence_rules.render.html import code_spans

    out = str(code_spans("Add an `indicator` or `<script>alert(1)</script>` & <b>more</b>"))
    assert out == ("Add an <code>indicator</code> or <code>&lt;script&gt;alert(1)&lt;/script&gt;</code> "
                   "&amp; &lt;b&gt;more&lt;/b&gt;")


def test_lsp_hover_of_a_fact_escapes_its_title_and_citation():
    pytest.importorskip("pygls")
    from types import SimpleNamespace

    from coherence_rules.lsp.features import _fact_md
    from coherence_rules.syntax.ast import Span

    fact = SimpleNamespace(id="M", type="measure", title=MARKDOWN, cite="[x](command:evil)",
                           span=Span("a`b.policy", 1, 1, 1, 2))
    index = SimpleNamespace(facts={"M": fact}, shown=lambda span: span.file)
    hover = _fact_md(index, "M")
    html = _rendered(hover)
    assert "<a " not in html and "<img" not in html, html
    assert "``a`b.policy``" in hover
