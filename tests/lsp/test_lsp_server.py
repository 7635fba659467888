"""``coherence lsp`` through a real client over stdio (tests/lsp/lsp_client.py): diagnostics as
the text changes, findings, hover, definition, completion, formatting, the accept quick fix,
shutdown. Every test starts its own server on a copy of the Mauritius set and ends it."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

pytest.importorskip("pygls")

from tests.lsp.lsp_client import LspClient, apply_edits, position, position_of, uri, utf16  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 11, 23)


@pytest.fixture
def set_dir(tmp_path) -> Path:
    """A copy of policies/mauritius, with a coherence.toml that fixes the reference date."""
    shutil.copytree(REPO / "policies" / "mauritius", tmp_path / "mauritius")
    (tmp_path / "coherence.toml").write_text(f"as_of = {AS_OF.isoformat()}\n", encoding="utf-8")
    return tmp_path / "mauritius"


@pytest.fixture
def client(set_dir):
    c = LspClient(set_dir.parent)
    try:
        c.initialize(set_dir.parent)
        yield c
    finally:
        c.close()


def line_of(text: str, needle: str) -> int:
    """The 0-based line of the first occurrence of ``needle``."""
    return text[: text.index(needle)].count("\n")


def by_code(diags: list[dict], code: str) -> list[dict]:
    return [d for d in diags if d.get("code") == code]


def path_of(u: str) -> Path:
    return Path(unquote(urlparse(u).path))


def expected_findings(set_dir: Path) -> dict:
    """The set's findings as ``coherence check`` computes them: (criterion, primary fact) -> finding."""
    from coherence_rules.session import Session

    report = Session([set_dir], as_of=AS_OF).report
    return {(f.criterion, f.location.line): f for f in report.findings}


def test_open_publishes_findings_as_diagnostics(client, set_dir):
    path = set_dir / "instruments.policy"
    text = path.read_text(encoding="utf-8")
    u = client.open(path)
    diags = client.diagnostics(u, lambda d: by_code(d, "ADM-SECTOR"))
    wpr7 = line_of(text, "measure WPR.7")
    (adm,) = by_code(diags, "ADM-SECTOR")
    expected = expected_findings(set_dir)[("ADM-SECTOR", wpr7 + 1)]
    assert adm["range"]["start"] == {"line": wpr7, "character": 0}
    assert adm["severity"] == 2 and adm["source"] == "coherence"  # an open conflict: a warning
    assert adm["message"] == expected.message
    health = uri(set_dir / "health-strategy.md")
    hss21 = line_of((set_dir / "health-strategy.md").read_text(encoding="utf-8"), "objective HSS.2.1")
    assert {(r["location"]["uri"], r["location"]["range"]["start"]["line"]) for r in adm["relatedInformation"]} \
        == {(health, hss21)}
    (synergy,) = by_code(diags, "DIASPORA-SYNERGY")
    assert synergy["severity"] == 3  # a synergy: information
    (accepted,) = by_code(diags, "MEASURE-UNFUNDED")
    assert accepted["severity"] == 3 and accepted["data"]["status"] == "accepted"
    assert not [d for d in diags if d["severity"] == 1]
    # the findings of the set's other files go to those files
    md = client.diagnostics(health, lambda d: by_code(d, "OBJ-NO-INDICATOR"))
    (obj,) = by_code(md, "OBJ-NO-INDICATOR")
    assert obj["range"]["start"]["line"] == line_of((set_dir / "health-strategy.md").read_text(encoding="utf-8"),
                                                    "objective HSS.4.2")


def test_diagnostics_follow_changes_at_the_right_place(client, set_dir):
    path = set_dir / "instruments.policy"
    text = path.read_text(encoding="utf-8")
    u = client.open(path)
    health = uri(set_dir / "health-strategy.md")
    client.diagnostics(health, lambda d: by_code(d, "OBJ-NO-INDICATOR"))
    # an unknown field: E302 on the field's name, line and columns as typed
    wrong = text.replace("  occupation: nurse\n  delivered_by: MOL", "  ocupation: nurse\n  delivered_by: MOL", 1)
    client.change(u, wrong)
    diags = client.diagnostics(u, lambda d: by_code(d, "E302"))
    (e302,) = by_code(diags, "E302")
    line = line_of(wrong, "  ocupation: nurse")
    assert e302["range"] == {"start": {"line": line, "character": 2}, "end": {"line": line, "character": 11}}
    assert e302["severity"] == 1 and "ocupation" in e302["message"] and "occupation" in e302["message"]
    assert not by_code(diags, "ADM-SECTOR")  # nothing runs on a set with errors
    # ... so the other file's findings are cleared
    client.diagnostics(health, lambda d: d == [])
    # non-ASCII text before the field on its line: characters are UTF-16 code units
    prefix = '  evidence: "Règlement 7 😀 — ébauche"  '
    wide = wrong.replace("  ocupation: nurse", prefix + "ocupation: nurse", 1)
    client.change(u, wide)
    diags = client.diagnostics(u, lambda d: any(x["range"]["start"]["character"] > 2 for x in by_code(d, "E302")))
    (e302,) = by_code(diags, "E302")
    assert utf16(prefix) != len(prefix)
    assert e302["range"]["start"] == {"line": line, "character": utf16(prefix)}
    assert e302["range"]["end"] == {"line": line, "character": utf16(prefix) + len("ocupation")}
    # fixed again: the error goes, the findings come back, in both files
    client.change(u, text)
    diags = client.diagnostics(u, lambda d: not by_code(d, "E302") and by_code(d, "ADM-SECTOR"))
    assert by_code(diags, "ADM-SECTOR")[0]["range"]["start"]["line"] == line_of(text, "measure WPR.7")
    client.diagnostics(health, lambda d: by_code(d, "OBJ-NO-INDICATOR"))
    assert client.log_errors() == []


def test_positions_in_the_encoding_agreed_on(set_dir):
    """A client that prefers UTF-8 positions gets them (Neovim offers utf-8 first)."""
    c = LspClient(set_dir.parent)
    try:
        result = c.initialize(set_dir.parent, encodings=("utf-8", "utf-16"))
        assert result["capabilities"]["positionEncoding"] == "utf-8"
        path = set_dir / "instruments.policy"
        prefix = '  evidence: "Règlement 7 😀 — ébauche"  '
        text = path.read_text(encoding="utf-8").replace("  occupation: nurse\n  delivered_by: MOL",
                                                        prefix + "ocupation: nurse\n  delivered_by: MOL", 1)
        u = c.open(path, text)
        (e302,) = by_code(c.diagnostics(u, lambda d: by_code(d, "E302")), "E302")
        assert e302["range"]["start"] == {"line": line_of(text, prefix), "character": len(prefix.encode("utf-8"))}
        nurse = len((prefix + "ocupation: ").encode("utf-8"))
        hover = c.text_request("textDocument/hover", u, {"line": line_of(text, prefix), "character": nurse + 2})
        assert "occupation" in hover["contents"]["value"]
        assert hover["range"]["start"]["character"] == nurse
    finally:
        c.close()


def test_a_document_that_does_not_parse_gets_diagnostics(client, set_dir):
    path = set_dir / "instruments.policy"
    text = path.read_text(encoding="utf-8")
    u = client.open(path)
    client.diagnostics(u, lambda d: by_code(d, "ADM-SECTOR"))
    broken = text + '\nmeasure X.1 "Unfinished" {\n  instrument: WPR\n  effect: '
    client.change(u, broken)
    diags = client.diagnostics(u, lambda d: any(x["severity"] == 1 for x in d))
    assert all(x["code"].startswith("E1") for x in diags if x["severity"] == 1)
    # the server still answers, from the last program that checked
    hover = client.text_request("textDocument/hover", u, position_of(broken, "instrument: WPR", 2, nth=2))
    assert "ref instrument" in hover["contents"]["value"]
    completion = client.text_request("textDocument/completion", u, position(broken, len(broken)))
    assert {"restrict", "facilitate"} <= {i["label"] for i in completion["items"]}
    assert client.text_request("textDocument/formatting", u, options={"tabSize": 2, "insertSpaces": True}) == []
    client.change(u, "")  # an empty file: a diagnostic, no crash
    client.diagnostics(u, lambda d: by_code(d, "E114"))
    assert client.log_errors() == []


def test_hover(client, set_dir):
    path = set_dir / "instruments.policy"
    text = path.read_text(encoding="utf-8")
    u = client.open(path)
    client.diagnostics(u)
    wpr7 = text.index("measure WPR.7")

    def hover(needle: str, delta: int = 1, doc=u, source=text, start=0) -> str:
        i = source.index(needle, start)
        result = client.text_request("textDocument/hover", doc, position(source, i + delta))
        return result["contents"]["value"] if result else ""

    field = hover("instrument:", start=wpr7)  # a field name: its type and the types' documentation
    assert "ref instrument" in field and "A measure a policy instrument takes" in field
    assert "required" in field
    member = hover("nurse\n", start=wpr7)  # an enum member: its enum
    assert "occupation" in member and "member" in member
    ref = hover("WPR\n", start=wpr7)  # a reference: the fact's title and location
    assert "Work Permit Regulations" in ref and f"instruments.policy:{line_of(text, 'instrument WPR') + 1}" in ref
    actor = hover("MOL\n", start=wpr7)  # a reference to another file
    assert "Ministry of Labour" in actor and "institutions.policy:" in actor
    crit = hover("MEASURE-UNFUNDED")  # a criterion code in an accept: its documentation
    from coherence_rules.session import Rulesets

    doc = {c.code: c for c in Rulesets().alone().program.criteria}["MEASURE-UNFUNDED"]
    assert doc.title in crit and doc.docs["detects"] in crit
    assert hover("# Mauritius", 3) == ""  # a comment: nothing
    # Markdown: the blocks are read, the prose is not
    md_path = set_dir / "health-strategy.md"
    md = md_path.read_text(encoding="utf-8")
    mu = client.open(md_path)
    assert "occupation" in hover("nurse\n", doc=mu, source=md)
    assert hover("`WPR.7`", 2, doc=mu, source=md) == ""


def test_hover_on_rules(client, set_dir):
    rules = set_dir / "watch.rules"
    text = ('criterion WPR7-WATCH "The cap on foreign nurses is watched" {\n  dimension: horizontal\n  score: -1\n'
            '  source: "a test criterion"\n  message: "{m} is watched"\n  advice: "Nothing to do."\n'
            '  detects: "The cap on foreign nurses."\n  when {\n    m: measure where m == @WPR.7\n  }\n}\n\n'
            'test "the watch needs the cap" {\n  given {\n    jurisdiction XX "Somewhere" { level: national }\n'
            '  }\n  expect no WPR7-WATCH\n}\n')
    rules.write_text(text, encoding="utf-8")
    u = client.open(rules)
    client.diagnostics(u)
    hover = client.text_request("textDocument/hover", u, position_of(text, "expect no WPR7-WATCH", 12))
    assert "The cap on foreign nurses is watched" in hover["contents"]["value"]
    assert "The cap on foreign nurses." in hover["contents"]["value"]
    # @ID: go to the fact
    (loc,) = client.text_request("textDocument/definition", u, position_of(text, "@WPR.7", 2))
    instruments = (set_dir / "instruments.policy").read_text(encoding="utf-8")
    assert loc["uri"] == uri(set_dir / "instruments.policy")
    assert loc["range"]["start"]["line"] == line_of(instruments, "measure WPR.7")
    # a finding of the set's own criterion, at the fact
    diags = client.diagnostics(uri(set_dir / "instruments.policy"), lambda d: by_code(d, "WPR7-WATCH"))
    assert by_code(diags, "WPR7-WATCH")[0]["range"]["start"]["line"] == line_of(instruments, "measure WPR.7")


def test_definition(client, set_dir):
    path = set_dir / "instruments.policy"
    text = path.read_text(encoding="utf-8")
    u = client.open(path)
    client.diagnostics(u)
    wpr7 = text.index("measure WPR.7")

    def definition(needle: str, delta: int = 1, start: int = 0) -> list[dict]:
        i = text.index(needle, start)
        return client.text_request("textDocument/definition", u, position(text, i + delta))

    (loc,) = definition("WPR\n", start=wpr7)
    assert loc["uri"] == u and loc["range"]["start"] == {"line": line_of(text, "instrument WPR"), "character": 0}
    (loc,) = definition("MOL\n", start=wpr7)
    institutions = (set_dir / "institutions.policy").read_text(encoding="utf-8")
    assert loc["uri"] == uri(set_dir / "institutions.policy")
    assert loc["range"]["start"]["line"] == line_of(institutions, "actor MOL")
    (loc,) = definition("[NMDP.4.3]", 2)  # an id of an accept
    assert loc["uri"] == u and loc["range"]["start"]["line"] == line_of(text, "measure NMDP.4.3")
    (loc,) = definition("measure WPR.7", 2)  # a type name: its declaration in the schema
    target = path_of(loc["uri"])
    assert target.name == "schema.rules"
    declared = target.read_text(encoding="utf-8").split("\n")[loc["range"]["start"]["line"]]
    assert re.match(r"type measure\b", declared)
    assert definition("# Mauritius", 3) == []


def test_completion(client, set_dir):
    path = set_dir / "instruments.policy"
    text = path.read_text(encoding="utf-8")
    u = client.open(path)
    client.diagnostics(u)

    def complete(source: str, offset: int) -> list[dict]:
        client.change(u, source)
        return client.text_request("textDocument/completion", u, position(source, offset))["items"]

    # field names of the fact's type, without those already set
    anchor = "  occupation: nurse\n  delivered_by: MOL\n"
    at = text.index(anchor) + len(anchor)
    source = text[:at] + "  ev\n" + text[at:]
    items = complete(source, at + 4)
    labels = {i["label"] for i in items}
    assert {"evidence", "funded", "under", "gcm"} <= labels and not labels & {"area", "effect", "occupation"}
    evidence = next(i for i in items if i["label"] == "evidence")
    assert evidence["textEdit"]["newText"] == "evidence: "
    assert evidence["textEdit"]["range"]["start"] == position(source, at + 2)
    # enum members for an enum field
    source = text.replace("  effect: restrict\n  occupation: nurse", "  effect: re\n  occupation: nurse", 1)
    labels = {i["label"] for i in complete(source, source.index("effect: re\n") + 10)}
    assert {"restrict", "require", "facilitate"} <= labels and "nurse" not in labels
    # fact ids of the referenced type for a ref field
    source = text.replace("  delivered_by: MOL\n  cite: \"Work Permit Regulations, reg. 7(1)\"",
                          "  delivered_by: M\n  cite: \"Work Permit Regulations, reg. 7(1)\"", 1)
    labels = {i["label"] for i in complete(source, source.index("delivered_by: M\n") + 15)}
    assert {"MOL", "MOH", "BOM"} <= labels and not labels & {"WPR", "NMDP", "MU"}
    # the ids an accept can name, and criterion codes after `accept`
    source = text + "\naccept ADM-SECTOR on [HSS.2.1, W"
    labels = {i["label"] for i in complete(source, len(source))}
    assert {"WPR.7", "WPR", "HSS.2.1"} <= labels
    source = text + "\naccept ADM"
    labels = {i["label"] for i in complete(source, len(source))}
    assert {"ADM-SECTOR", "MEASURE-UNFUNDED"} <= labels
    assert client.log_errors() == []


def test_formatting(client, set_dir):
    from coherence_rules.syntax.fmt_files import format_file_text

    path = set_dir / "instruments.policy"
    text = format_file_text(path.read_text(encoding="utf-8"), str(path))[0]
    u = client.open(path, text)
    client.diagnostics(u)
    options = {"tabSize": 2, "insertSpaces": True}
    assert client.text_request("textDocument/formatting", u, options=options) == []  # already formatted
    messy = text.replace("instrument WPR ", "instrument   WPR ", 1)
    messy = messy.replace("  effect: restrict\n  occupation: nurse", "effect: restrict   occupation:    nurse", 1)
    assert messy != text
    client.change(u, messy)
    edits = client.text_request("textDocument/formatting", u, options=options)
    assert len(edits) == 1
    assert apply_edits(messy, edits) == text
    client.change(u, messy + "\nmeasure {")
    assert client.text_request("textDocument/formatting", u, options=options) == []  # cannot format: no edit


def _accept(client, u: str, diag: dict) -> list[dict]:
    return client.text_request("textDocument/codeAction", u, range=diag["range"],
                               context={"diagnostics": [diag], "only": ["quickfix"]})


def test_accept_code_action(client, set_dir):
    path = set_dir / "instruments.policy"
    text = path.read_text(encoding="utf-8")
    u = client.open(path)
    diags = client.diagnostics(u, lambda d: by_code(d, "ADM-SECTOR"))
    (adm,) = by_code(diags, "ADM-SECTOR")
    (action,) = _accept(client, u, adm)
    assert action["title"] == "Accept this trade-off" and action["kind"] == "quickfix"
    (edit,) = action["edit"]["changes"][u]
    end = position(text, len(text))
    assert edit["range"] == {"start": end, "end": end}
    assert re.fullmatch(r'\naccept ADM-SECTOR on \[HSS\.2\.1, WPR\.7\] \{ reason: "TODO: why this trade-off is '
                        r'accepted"  until: \d{4}-\d{2}-\d{2} \}\n', edit["newText"])
    # applied, the finding is no longer an open conflict
    client.change(u, apply_edits(text, [edit]))
    diags = client.diagnostics(u, lambda d: by_code(d, "ADM-SECTOR") and by_code(d, "ADM-SECTOR")[0]["data"]["status"]
                               != "open")
    assert not [d for d in diags if d["severity"] == 1]
    # a synergy has nothing to accept
    (synergy,) = by_code(diags, "DIASPORA-SYNERGY")
    assert _accept(client, u, synergy) == []
    # without the diagnostic's data, the finding is found by its code and line
    (lead,) = by_code(diags, "INST-NO-LEAD")
    lead = {k: v for k, v in lead.items() if k != "data"}
    (action,) = _accept(client, u, lead)
    assert "accept INST-NO-LEAD on [" in action["edit"]["changes"][u][0]["newText"]


def test_accept_code_action_in_markdown(client, set_dir):
    path = set_dir / "health-strategy.md"
    text = path.read_text(encoding="utf-8")
    u = client.open(path)
    diags = client.diagnostics(u, lambda d: by_code(d, "OBJ-NO-INDICATOR"))
    (action,) = _accept(client, u, by_code(diags, "OBJ-NO-INDICATOR")[0])
    (edit,) = action["edit"]["changes"][u]
    assert re.fullmatch(r'\n?```policy\naccept OBJ-NO-INDICATOR on \[HSS\.4\.2\] \{ reason: "[^"]+"  '
                        r'until: \d{4}-\d{2}-\d{2} \}\n```\n', edit["newText"])
    client.change(u, apply_edits(text, [edit]))
    diags = client.diagnostics(u, lambda d: by_code(d, "OBJ-NO-INDICATOR")
                               and by_code(d, "OBJ-NO-INDICATOR")[0]["data"]["status"] != "open")
    assert not [d for d in diags if d["severity"] == 1]


def test_editing_a_ruleset_with_its_settings(tmp_path):
    """A folder holding a ruleset being written, with `ruleset = ["."]`: the editor's text is
    the ruleset (not read a second time), and its errors are placed in it."""
    folder = tmp_path / "rules-dev"
    folder.mkdir()
    text = (REPO / "rulesets" / "core.rules").read_text(encoding="utf-8")
    (folder / "core.rules").write_text(text, encoding="utf-8")
    (folder / "coherence.toml").write_text('ruleset = ["."]\n', encoding="utf-8")
    c = LspClient(tmp_path)
    try:
        c.initialize(tmp_path)
        u = c.open(folder / "core.rules")
        c.diagnostics(u, lambda d: d == [])  # nothing defined twice
        at = text.index("m: measure where")
        wrong = text[:at] + "m: mesure where" + text[at + len("m: measure where"):]
        c.change(u, wrong)
        diags = c.diagnostics(u, lambda d: by_code(d, "E202"))
        (e202,) = by_code(diags, "E202")
        assert e202["range"]["start"] == position(wrong, at + 3)
        assert c.shutdown() == 0
    finally:
        c.close()


def test_close_clears_and_shutdown_exits(client, set_dir):
    u = client.open(set_dir / "instruments.policy")
    client.diagnostics(u, lambda d: by_code(d, "ADM-SECTOR"))
    health = uri(set_dir / "health-strategy.md")
    client.diagnostics(health, lambda d: by_code(d, "OBJ-NO-INDICATOR"))
    client.close_document(u)  # the set's last open document: its diagnostics are cleared
    client.diagnostics(u, lambda d: d == [])
    client.diagnostics(health, lambda d: d == [])
    assert client.shutdown() == 0
    assert not client.alive()


def test_lsp_needs_the_extra(monkeypatch):
    import importlib.util

    from click.testing import CliRunner

    from coherence_rules import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pygls" else real(name, *a))
    result = CliRunner().invoke(cli.main, ["lsp"])
    assert result.exit_code == 2
    assert "lsp" in result.output and "pygls" in result.output
