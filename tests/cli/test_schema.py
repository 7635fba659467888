"""`coherence schema [TYPE|ENUM]`: the vocabulary as loaded, in text, JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from coherence_rules.cli import main

ROOT = Path(__file__).resolve().parent.parent.parent
VOCABULARY = (ROOT / "docs" / "vocabulary.md").read_text(encoding="utf-8")
EXTENSION = """ruleset mine "Mine" { version: "1" }
extend enum occupation { community_health_worker "community health workers" }
extend enum area { visa "visas and entry permits" }
extend type measure { minors: bool?  # whether the measure concerns children
}
type programme "A training programme" {
  instrument: ref instrument
  jurisdiction: ref jurisdiction?
  places: list of number
  mode: enum { classroom "classroom training"  online }?
  inherit jurisdiction from instrument
}
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_a_type_in_text():
    r = invoke("schema", "measure")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "type measure: A measure a policy instrument takes"
    assert "declared in the built-in schema" in lines[1]
    fields = lines[lines.index("  fields (? = optional; every fact also has id and title):") + 1:lines.index("  inherits:")]
    rows = {line.split()[0]: line for line in fields if line.strip()}
    assert rows["instrument"].split()[1:3] == ["ref", "instrument"]
    assert rows["jurisdiction"].split()[1:3] == ["ref", "jurisdiction?"]
    assert "inherited from instrument" in rows["jurisdiction"]
    assert rows["area"].split()[1:] == ["area", "enum"]
    assert rows["occupation"].split()[1:] == ["occupation?", "open", "enum"]
    assert "list of ref jurisdiction?" in rows["origin"] and "the countries a measure targets" in rows["origin"]
    assert "  inherits:" in lines and "    jurisdiction from instrument" in lines


def test_an_enum_in_text_with_labels():
    r = invoke("schema", "area")
    assert r.exit_code == 0
    assert r.output.startswith("enum area: Migration policy areas.\n")
    assert any(line.split(None, 1) == ["family_reunion", "family reunification"] for line in r.output.splitlines())
    assert "used by: " in r.output and "measure.area" in r.output
    assert "open: a value outside the list" in invoke("schema", "occupation").output


def test_a_derived_type_names_its_rules():
    r = invoke("schema", "pressure")
    assert "derived by rule emigration-drain (core), rule recruitment-drain (core)" in r.output
    assert "derived by" not in invoke("schema", "pressure", "--ruleset", "demig").output


def test_everything_without_a_name():
    r = invoke("schema")
    assert r.exit_code == 0
    assert r.output.startswith("type jurisdiction: ")
    for name in ("type measure:", "type lead_cover:", "enum dimension:", "open enum topic:"):
        assert f"\n{name}" in r.output, name
    assert "policy_change" not in r.output  # demig is not loaded by default


def test_unknown_name_is_bad_input_with_a_suggestion():
    r = invoke("schema", "mesure")
    assert r.exit_code == 2
    assert "unknown type or enum 'mesure'; did you mean 'measure'?" in r.output
    r = invoke("schema", "policy_change")
    assert r.exit_code == 2 and "add --ruleset demig" in r.output
    assert invoke("schema", "policy_change", "--ruleset", "demig").exit_code == 0


def test_json_is_sorted_and_stable():
    r = invoke("schema", "--format", "json")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    names = [t["name"] for t in doc["types"]]
    assert names == sorted(names) and "measure" in names
    assert [e["name"] for e in doc["enums"]] == sorted(e["name"] for e in doc["enums"])
    assert r.output == invoke("schema", "--format", "json").output
    assert r.output == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    measure = json.loads(invoke("schema", "measure", "-f", "json").output)
    assert measure["kind"] == "type" and measure["ruleset"] == "schema"
    origin = next(f for f in measure["fields"] if f["name"] == "origin")
    assert origin == {"name": "origin", "type": "list of ref jurisdiction", "optional": True, "kind": "list",
                      "enum": None, "enum_open": False, "ref": "jurisdiction",
                      "doc": "the countries a measure targets", "inherited_from": None, "added_by": None}
    assert measure["inherits"] == [{"field": "jurisdiction", "from": "instrument"}]
    area = json.loads(invoke("schema", "area", "-f", "json").output)
    assert {"name": "visa", "label": "visas", "added_by": None, "relabelled_by": None} in area["members"]


def test_markdown_is_the_section_of_the_vocabulary_page():
    for name in ("measure", "pressure", "occupation", "topic", "lead_cover"):
        r = invoke("schema", name, "--ruleset", "core", "--ruleset", "demig", "--ruleset", "impic", "-f", "markdown")
        assert r.exit_code == 0
        assert r.output.rstrip("\n") + "\n\n" in VOCABULARY, name
    whole = invoke("schema", "-f", "markdown", "--ruleset", "core", "--ruleset", "demig", "--ruleset", "impic")
    assert whole.output.startswith("# Vocabulary\n")
    assert whole.output.split("## Types\n", 1)[1] == VOCABULARY.split("## Types\n", 1)[1]


def test_a_rulesets_vocabulary_is_shown_as_loaded(tmp_path):
    mine = tmp_path / "mine.rules"
    mine.write_text(EXTENSION, encoding="utf-8")
    r = invoke("schema", "occupation", "--ruleset", "core", "--ruleset", mine)
    assert r.exit_code == 0, r.output
    assert "community_health_worker  community health workers  (added by mine)" in r.output
    r = invoke("schema", "area", "--ruleset", mine)
    assert "visas and entry permits  (relabelled by mine)" in r.output
    r = invoke("schema", "measure", "--ruleset", mine)
    row = next(line for line in r.output.splitlines() if line.split()[:1] == ["minors"])
    assert row.split()[1] == "bool?" and "added by mine" in row and "whether the measure concerns children" in row
    r = invoke("schema", "programme", "--ruleset", mine)
    assert "declared in ruleset mine (" in r.output and "mine.rules:6)" in r.output
    assert "enum { classroom online }?" in r.output and "list of number" in r.output
    md = invoke("schema", "programme", "--ruleset", mine, "-f", "markdown").output
    assert "| `mode` | `enum { classroom online }` ([labels](#enum-programmemode)) | no |" in md
    md = invoke("schema", "programme.mode", "--ruleset", mine, "-f", "markdown").output
    assert "| `classroom` | classroom training |" in md and "| `online` | online |" in md


def test_a_broken_ruleset_is_bad_input(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text('ruleset bad "Bad" { version: "1" }\nextend type measure { minors: bool }\n', encoding="utf-8")
    r = invoke("schema", "measure", "--ruleset", bad)
    assert r.exit_code == 2 and "[E217]" in r.output
