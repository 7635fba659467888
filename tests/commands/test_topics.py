"""The topic view of a batch (`coherence batch --view topics`): agreements x topics on the real
corpus of policies/agreements/, in article order, with totals, failed sets shown as failed, the
same bytes whatever the jobs or the store, in every format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from coherence_rules.commands.batch import run_batch
from coherence_rules.commands.topics import (
    SCHEMA,
    article_key,
    checklist,
    sort_cites,
    topic_members,
    topics_document,
)
from coherence_rules.render import topics as render
from coherence_rules.session import Rulesets
from tests.clirunner import invoke

ROOT = Path(__file__).resolve().parents[2]
AGREEMENTS = ROOT / "policies" / "agreements"
AS_OF = dt.date(2026, 11, 23)
CORPUS = sorted(str(p.relative_to(ROOT)) for p in AGREEMENTS.iterdir() if p.is_dir())

BROKEN = """# A draft agreement

```policy
agreement NL-XX-1970 "A draft" {
  kind: bilateral_labour
```
"""

HOSTILE = """# <b>hostile</b>

```policy
jurisdiction NLD "Netherlands" { level: national }
jurisdiction XXX "<img src=x onerror=alert(1)>" { level: national }
agreement NL-XX-1970 "<script>alert('title')</script> & co" {
  kind: bilateral_labour
  parties: [NLD, XXX]
  signed: 1970-01-01
}
clause NL-XX-1970.A1.travel "<b>bold</b> title" {
  agreement: NL-XX-1970
  topic: travel
  provision: "employer_pays"
  text: "</blockquote><script>alert('text')</script>"
  cite: "Art. 1 <i>"
}
```
"""


@pytest.fixture(scope="module")
def corpus():
    """The topic document of the whole corpus, checked from the repository's root."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        result = run_batch(CORPUS, jobs=2, as_of=AS_OF)
        yield result, topics_document(result)


def row(doc: dict, set_name: str) -> dict:
    (r,) = [r for r in doc["rows"] if r["set"] == f"policies/agreements/{set_name}"]
    return r


def test_the_corpus_has_one_row_per_agreement(corpus):
    result, doc = corpus
    assert doc["schema"] == SCHEMA == "coherence-topics/1"
    assert doc["as_of"] == "2026-11-23" and doc["tool"]["name"] == "coherence"
    assert len(doc["rows"]) == 19 and doc["summary"] == {"sets": 19, "agreements": 19, "failed": 0}
    assert all(r["status"] == "ok" and r["errors"] == [] for r in doc["rows"])
    assert [r["set"] for r in doc["rows"]] == sorted(r["set"] for r in doc["rows"])
    tr = row(doc, "nl-turkey-1964")
    assert (tr["agreement"], tr["signed"], tr["kind"], tr["parties"]) == (
        "NL-TR-1964", "1964-08-19", "bilateral_labour", ["NLD", "TUR"])
    assert tr["title"] == "Netherlands-Turkey recruitment agreement, 1964"
    assert sum(r["kind"] == "bilateral_labour" for r in doc["rows"]) == 11
    assert sum(r["kind"] == "social_security" for r in doc["rows"]) == 8
    # the batch document itself does not carry the topic data the entries hold
    assert all("agreements" not in s for s in result.to_dict()["sets"])
    assert all("agreements" in s for s in result.sets)


def test_known_cells(corpus):
    _, doc = corpus
    tr = row(doc, "nl-turkey-1964")
    assert tr["cells"]["travel"][0].startswith("Art. 11")  # the journey: Art. 11, then Art. 12, then the notes
    assert tr["cells"]["travel"] == ["Art. 11(2)-(3)", "Art. 12", "Exchange of notes, I"]
    assert tr["cells"]["return"] == ["Art. 20(1)-(2)", "Art. 21"]
    ma = row(doc, "nl-morocco-1969")
    assert ma["cells"]["family"] == ["Art. 2(3)", "Art. 17(1), (3)"]
    # the Luxembourg exchange of notes has no article on the journey: an empty cell, a missed checklist topic
    lu = row(doc, "nl-luxembourg-farmworkers-1950")
    assert "travel" not in lu["cells"] and lu["cells"]["return"] == ["Point 6"]
    assert lu["coverage"] == {"covered": 7, "of": 14}
    # the training articles of 1971
    assert row(doc, "nl-tunisia-1971")["cells"]["training"] == ["Art. 20", "Art. 21", "Art. 22", "Art. 25(2)(d)"]
    # every cell in article order, each clause counted in its topic's cell
    for r in doc["rows"]:
        for cites in r["cells"].values():
            assert cites == sort_cites(cites) and len(set(cites)) == len(cites)
        assert {c["topic"] for c in r["clauses"]} == set(r["cells"])
        assert [c["cite"] for c in r["clauses"]] == sorted((c["cite"] for c in r["clauses"]), key=article_key)


def test_columns_the_checklist_first_then_the_topic_enum(corpus):
    _, doc = corpus
    program = Rulesets(None).alone().program
    essential = checklist(program)
    bl = [e["topic"] for e in essential if e["kind"] == "bilateral_labour"]
    ss = [e["topic"] for e in essential if e["kind"] == "social_security"]
    assert len(bl) == 14 and len(ss) == 12
    assert doc["topics"][:26] == bl + [t for t in ss if t not in bl]
    members = topic_members(program)
    rest = doc["topics"][26:]
    assert rest == sorted(rest, key=members.index) and "family" in rest and "training" in rest
    assert set(rest) == {t for r in doc["rows"] for t in r["cells"]} - set(bl + ss)
    assert doc["topic_labels"]["travel"] == program.schema.enums["topic"].label("travel") == "the journey"
    assert doc["kind_labels"] == {"bilateral_labour": "bilateral labour", "social_security": "social security"}


def test_article_order():
    cites = ["Annex, Art. 4", "Art. 17", "Exchange of notes, III", "Art. 3bis", "Protocol, point 2", "Art. 3(2)",
             "Art. 3", "Exchange of notes, I", "Point 10", "Art. 17(1)", "Point 2", "Art. 3a", "Art. 3ter",
             "Final protocol, point 1(a)", "Protocol I, point a", "Protocol II, point a", "Art. 11(2)-(4)", ""]
    assert sorted(cites, key=article_key) == [
        "Art. 3", "Art. 3(2)", "Art. 3a", "Art. 3bis", "Art. 3ter", "Art. 11(2)-(4)", "Art. 17", "Art. 17(1)",
        "Point 2", "Point 10",
        "Final protocol, point 1(a)", "Protocol, point 2", "Protocol I, point a", "Protocol II, point a",
        "Annex, Art. 4", "Exchange of notes, I", "Exchange of notes, III", ""]


def test_totals(corpus):
    _, doc = corpus
    totals = doc["totals"]
    assert set(totals) == set(doc["topics"])
    assert totals["complaints"] == {"covered": 9, "of": 11, "kinds": ["bilateral_labour"], "others": 8}
    assert totals["recruitment_channels"] == {"covered": 11, "of": 11, "kinds": ["bilateral_labour"], "others": 0}
    assert totals["employment_injury"] == {"covered": 7, "of": 8, "kinds": ["social_security"], "others": 0}
    assert totals["training"] == {"covered": 3, "of": 19, "kinds": [], "others": 0}
    for topic, total in totals.items():
        rows = [r for r in doc["rows"] if not total["kinds"] or r["kind"] in total["kinds"]]
        assert total["of"] == len(rows)
        assert total["covered"] == sum(1 for r in rows if topic in r["cells"])
    assert "9 of 11 (+8)" in render.render_topics_table(doc)
    assert "9 of 11 (+8)" in render.render_topics_markdown(doc)


def test_a_failed_set_is_a_failed_row(tmp_path, monkeypatch):
    shutil.copytree(AGREEMENTS / "nl-turkey-1964", tmp_path / "nl-turkey-1964")
    (tmp_path / "draft").mkdir()
    (tmp_path / "draft" / "agreement.md").write_text(BROKEN, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run_batch(["nl-turkey-1964", "draft", "missing"], jobs=2, as_of=AS_OF)
    doc = topics_document(result)
    assert [(r["set"], r["status"]) for r in doc["rows"]] == [
        ("draft", "failed"), ("missing", "failed"), ("nl-turkey-1964", "ok")]
    draft, missing, _ = doc["rows"]
    assert draft["cells"] == {} and draft["agreement"] is None and draft["clauses"] == []
    assert draft["errors"] and draft["errors"][0].startswith("E102 draft/agreement.md:4:")
    assert missing["errors"] == ["E110 cannot read 'missing': no such file or directory"]
    assert doc["summary"] == {"sets": 3, "agreements": 1, "failed": 2}
    assert doc["totals"]["travel"] == {"covered": 1, "of": 1, "kinds": ["bilateral_labour"], "others": 0}
    table = render.render_topics_table(doc)
    assert "== draft (failed)" in table and "E110" in table
    md = render.render_topics_markdown(doc)
    assert "| draft |  |  |  |  |  | failed |" in md and "## Failed sets" in md
    rows = list(csv.DictReader(io.StringIO(render.render_topics_csv(doc))))
    assert [(r["set"], r["status"], r["travel"]) for r in rows] == [
        ("draft", "failed", ""), ("missing", "failed", ""),
        ("nl-turkey-1964", "ok", "Art. 11(2)-(3); Art. 12; Exchange of notes, I")]
    pytest.importorskip("jinja2")
    html = render.render_topics(doc, "html")
    assert html.count('<tr class="st-row-failed"') == 2 and "no such file or directory" in html


def test_the_same_bytes_whatever_the_jobs_or_the_store(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    store = tmp_path / "results.sqlite"
    one = render.render_topics(topics_document(run_batch(CORPUS, jobs=1, as_of=AS_OF)), "json")
    first = run_batch(list(reversed(CORPUS)), jobs=2, as_of=AS_OF, store=store)
    two = render.render_topics(topics_document(first), "json")
    again = run_batch(CORPUS, jobs=2, as_of=AS_OF, store=store)
    assert (again.computed, again.reused) == (0, 19)
    stored = render.render_topics(topics_document(again), "json")
    assert one == two == stored
    doc = json.loads(one)
    assert list(doc) == sorted(doc) and doc["schema"] == "coherence-topics/1"

    # a result stored before entries carried the topic data is checked again, not shown empty
    db = sqlite3.connect(store)
    db.execute("UPDATE results SET entry = json_remove(entry, '$.agreements') WHERE name LIKE '%nl-spain-1961'")
    db.commit()
    db.close()
    healed = run_batch(CORPUS, jobs=2, as_of=AS_OF, store=store)
    assert (healed.computed, healed.reused) == (1, 18)
    assert render.render_topics(topics_document(healed), "json") == one


def test_every_format_renders(corpus):
    _, doc = corpus
    table = render.render_topics(doc, "table")
    assert table.startswith("Topic matrix: 19 agreements in 19 policy sets; 38 topics")
    assert "== checklist of bilateral labour agreements, 1 of 3" in table and "Journey" in table
    assert max(len(line) for line in table.split("== checklist", 1)[1].splitlines()) <= render.TABLE_WIDTH
    rows = list(csv.DictReader(io.StringIO(render.render_topics(doc, "csv"))))
    assert len(rows) == 19 and list(rows[0])[:7] == ["set", "agreement", "title", "parties", "signed", "kind",
                                                       "status"]
    assert list(rows[0])[7:] == doc["topics"]  # members, not labels
    tr = next(r for r in rows if r["agreement"] == "NL-TR-1964")
    assert tr["travel"] == "Art. 11(2)-(3); Art. 12; Exchange of notes, I" and tr["parties"] == "NLD;TUR"
    md = render.render_topics(doc, "markdown")
    header = next(line for line in md.splitlines() if line.startswith("| set |"))
    assert "| Journey |" in header and "| Family reunification |" in header and "travel" not in header
    assert md.count("\n| policies/agreements/") == 19 and "| **covered** |" in md
    assert json.loads(render.render_topics(doc, "json")) == json.loads(json.dumps(doc))
    pytest.importorskip("jinja2")
    html = render.render_topics(doc, "html")
    assert html.startswith("<!DOCTYPE html>") and 'id="topic-matrix"' in html
    assert html.count('<tr class="st-row-ok"') == 19
    # each cell links to the clause, whose words are on the page
    assert '<a href="#cl-NL-TR-1964.A11.travel"><span class="seg">Art. 11(2)-(3)</span></a>' in html
    assert '<span class="seg">Exchange of notes</span>, <span class="seg">I</span></a>' in html  # wraps at commas only
    assert 'id="cl-NL-TR-1964.A11.travel"' in html and "Le transport depuis les lieux de départ" in html
    assert "<svg" in html and 'role="img"' in html and "The chart as a table" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html


def test_html_escapes_the_input(tmp_path, monkeypatch):
    pytest.importorskip("jinja2")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "agreement.md").write_text(HOSTILE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    doc = topics_document(run_batch(["x"], jobs=1, as_of=AS_OF))
    assert doc["rows"][0]["cells"] == {"travel": ["Art. 1 <i>"]}
    html = render.render_topics(doc, "html")
    for raw in ("<script>alert", "<img src=x", "<b>bold", "</blockquote><script>", "<i>"):
        assert raw not in html
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt; &amp; co" in html
    assert html.count("<script>") == 1  # the page's own, allowed by its hash
    md = render.render_topics(doc, "markdown")
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_the_cli_view(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = invoke("batch", *[p + "/" for p in CORPUS], "--view", "topics", "-f", "json", "--as-of", "2026-11-23", "-q")
    assert r.exit_code == 1  # the BLA-GAP findings, as in the findings view
    doc = json.loads(r.stdout)
    assert doc["schema"] == "coherence-topics/1" and len(doc["rows"]) == 19
    r = invoke("batch", "policies/agreements/nl-turkey-1964", "--as-of", "2026-11-23", "-q", "-f", "json")
    assert json.loads(r.stdout)["schema"] == "coherence-batch/1"  # findings stays the default view
    pytest.importorskip("jinja2")
    out = tmp_path / "topics.html"
    r = invoke("batch", *CORPUS, "--view", "topics", "-f", "html", "-o", str(out), "--as-of", "2026-11-23", "-q")
    assert r.exit_code == 1 and out.read_text(encoding="utf-8").count('<tr class="st-row-ok"') == 19


def test_a_readme_given_as_a_set_is_skipped_with_a_note(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    paths = sorted(str(p.relative_to(ROOT)) for p in AGREEMENTS.iterdir())  # what `policies/agreements/*` gives
    assert "policies/agreements/README.md" in paths
    result = run_batch(paths, jobs=2, as_of=AS_OF)
    assert result.skipped == ["policies/agreements/README.md"]
    assert [s["name"] for s in result.sets] == CORPUS
    r = invoke("batch", *paths, "--view", "topics", "-f", "csv", "--as-of", "2026-11-23")
    assert r.stderr.splitlines()[0] == ("note: skipped policies/agreements/README.md: a Markdown file with no "
                                        "`policy` or `rules` block is not a policy set")
    assert len(list(csv.DictReader(io.StringIO(r.stdout)))) == 19
    # a Markdown file with a policy block is a set; one without, given alone, leaves nothing to check
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.md").write_text("# Notes\n\nNothing to check here.\n", encoding="utf-8")
    shutil.copy(AGREEMENTS / "nl-turkey-1964" / "agreement.md", tmp_path / "turkey.md")
    result = run_batch(["notes.md", "turkey.md"], jobs=1, as_of=AS_OF)
    assert result.skipped == ["notes.md"] and [s["name"] for s in result.sets] == ["turkey.md"]
    assert topics_document(result)["rows"][0]["agreement"] == "NL-TR-1964"
