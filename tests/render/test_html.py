"""The HTML report: content, escaping of everything from the input, determinism."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("jinja2")

from coherence_rules.render import html as html_render  # noqa: E402
from coherence_rules.render.html import render_batch_html, render_diff_html, render_html  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def mauritius() -> tuple[dict, dict]:
    return load("report_mauritius.json"), load("report_mauritius.sources.json")


@pytest.fixture
def hostile() -> tuple[dict, dict]:
    return load("report_hostile.json"), load("report_hostile.sources.json")


class Page(HTMLParser):
    """Every start tag with its attributes, the text of each script, and the page's text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False
        self.feed(source)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)

    def attrs(self, name: str) -> list[str]:
        return [a[name] for _, a in self.tags if a.get(name) is not None]

    def by_id(self, anchor: str) -> tuple[str, dict]:
        matches = [(t, a) for t, a in self.tags if a.get("id") == anchor]
        assert len(matches) == 1, anchor
        return matches[0]


def assert_well_formed_page(out: str) -> Page:
    """Properties every page must have, whatever its input."""
    page = Page(out)
    assert out.startswith("<!DOCTYPE html>")
    # one script, the package's own, allowed by the CSP through its hash
    assert len(re.findall(r"<script", out, re.IGNORECASE)) == 1
    script = (Path(html_render.__file__).parent / "templates" / "report.js").read_text(encoding="utf-8")
    assert page.scripts == [script]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and "default-src 'none'" in csp[0] and f"'sha256-{digest}'" in csp[0]
    # no inline event handler, no resource loaded, no link leaving the page
    assert not [(t, n) for t, a in page.tags for n in a if n.lower().startswith("on")]
    assert not [t for t, _ in page.tags if t in ("img", "svg", "iframe", "object", "embed", "link", "base")]
    assert all(href.startswith("#") for href in page.attrs("href"))
    assert not page.attrs("src")
    # anchors are unique and every link lands somewhere
    ids = page.attrs("id")
    assert len(ids) == len(set(ids))
    assert {href[1:] for href in page.attrs("href")} <= set(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", i) for i in ids)
    return page


# --------------------------------------------------------------------------- the report page


def test_report_page_is_self_contained(mauritius):
    out = render_html(*mauritius)
    assert_well_formed_page(out)
    assert "http://" not in out and "https://" not in out
    assert "@import" not in out and "url(" not in out
    assert "<style>" in out


def test_summary_shows_counts_labels_and_the_index_formula(mauritius):
    report, sources = mauritius
    out = render_html(report, sources)
    page = Page(out)
    text = " ".join(" ".join(page.text).split())
    assert "Policy coherence report" in text
    assert "Conflicts 4" in text and "Synergies 1" in text
    assert "3 open · 1 accepted · 1 expired" in text
    assert "-0.17" in text and "more conflict than synergy" in text
    assert report["summary"]["coherence_index_formula"] in text
    assert "-2 counteracting" in text and "+2 reinforcing" in text
    assert "evidence 2" in text
    assert "as of 2026-11-23" in text


def test_matrix_cells_are_coloured_and_link_to_their_findings(mauritius):
    out = render_html(*mauritius)
    page = Page(out)
    cells = [a for t, a in page.tags if t == "td" and "cell" in (a.get("class") or "").split()]
    classes = [a["class"] for a in cells]
    # 4 instruments: 10 cells on or above the diagonal, 5 of them with findings
    assert sum("lower" in c for c in classes) == 6
    assert sum("empty" in c for c in classes) == 5
    assert sorted(c.split()[1] for c in classes if "lower" not in c and "empty" not in c) == [
        "s-m1", "s-m1", "s-m2", "s-m2", "s-p2"]
    # the HSS x WPR cell goes to the group of ADM-SECTOR
    match = re.search(r'<td class="cell s-m2">\s*<a href="#(g-HSS--WPR)"', out)
    assert match
    tag, attrs = page.by_id("g-HSS--WPR")
    assert tag == "section"
    group = out[out.index('id="g-HSS--WPR"'):]
    assert "ADM-SECTOR" in group[: group.index("</section>")]


def test_findings_are_grouped_by_instrument_and_carry_filter_data(mauritius):
    report, sources = mauritius
    out = render_html(report, sources)
    page = Page(out)
    groups = [a["id"] for t, a in page.tags if t == "section" and "group" in (a.get("class") or "")]
    assert groups == ["g-EMP--HSS", "g-FRMU--HSS", "g-HSS", "g-HSS--WPR", "g-WPR"]
    articles = [a for t, a in page.tags if t == "article"]
    assert len(articles) == len(report["findings"])
    by_anchor = {a["id"]: a for a in articles}
    for finding in report["findings"]:
        attrs = by_anchor["f-" + finding["fingerprint"]]
        assert attrs["data-score"] == (f"{finding['score']:+d}" if finding["score"] else "0")
        assert attrs["data-dimension"] == finding["dimension"]
        assert attrs["data-status"] == finding["status"]
        assert finding["message"] in out and finding["advice"] in out
    # filters exist for scripts, hidden until the script shows them: without JS all is visible
    form = page.by_id("filters")[1]
    assert "hidden" in form
    assert {a["value"] for t, a in page.tags if a.get("name") == "score"} == {
        "-3", "-2", "-1", "0", "+1", "+2", "+3"}
    assert {a["value"] for t, a in page.tags if a.get("name") == "dimension"} == {
        "evidence", "external", "horizontal"}
    assert {a["value"] for t, a in page.tags if a.get("name") == "status"} == {"open", "accepted", "expired"}
    assert not any("hidden" in a for t, a in page.tags if t in ("article", "section"))


def test_statuses_and_trade_offs_are_explained(mauritius):
    out = render_html(*mauritius)
    text = " ".join(" ".join(Page(out).text).split())
    assert "Accepted trade-off (until 2027-06-30): Cabinet decision 2022/18" in text
    assert "Trade-off lapsed (expired after 2025-12-31)" in text
    for status, note in html_render.STATUS_NOTES.items():
        if status != "resolved":  # a status of the diff page only
            assert note in text
    assert "matches no finding" in text  # the stale accept
    assert "Diagnostics" in text and "W403" in text and "help: update the ids or remove the accept" in text


def test_cited_articles_show_their_source_text_with_the_line_marked(mauritius):
    report, sources = mauritius
    out = render_html(report, sources)
    adm = next(f for f in report["findings"] if f["criterion"] == "ADM-SECTOR")
    article = out[out.index(f'id="f-{adm["fingerprint"]}"'):]
    article = article[: article.index("</article>")]
    line = adm["location"]["line"]
    assert f'<span class="src-line hit"><span class="ln">{line}</span> measure WPR.7 &#34;Annual cap' in article
    # the fact whole, from its header to its closing brace: not a window of lines around it
    assert "  area: admission" in article
    assert "# Reg. 7(1): &#34;The number of work permits" not in article  # the comment above it
    block = article[article.index('<pre class="source">'):]
    block = block[:block.index("</pre>")]
    assert block.count('class="src-line') == 8 and block.endswith('<span class="ln">22</span> }</span>')
    # HSS.2.1 comes from a Markdown file: the text of the plan precedes the fenced block
    assert "The Government will expand the domestic nursing workforce" in article
    # source text and proof are inside a collapsed <details>
    details = article[article.index("<details"):]
    assert details.startswith('<details class="why">')
    assert details.index("src-line hit") > 0 and details.index("Proof") > 0


def test_a_file_missing_from_sources_gives_no_excerpt(mauritius):
    report, sources = mauritius
    skills = next(f for f in report["findings"] if f["criterion"] == "SKILLS-PARTNERSHIP")
    out = render_html(report, sources)
    article = out[out.index(f'id="f-{skills["fingerprint"]}"'):]
    article = article[: article.index("</article>")]
    assert "policies/mauritius/partners.policy:10" in article  # still cited
    assert article.count('<figure class="excerpt">') == 1  # only HSS.3.4, from health.md
    bare = render_html(report, {})
    assert '<figure class="excerpt">' not in bare
    assert_well_formed_page(bare)


def test_proof_tree_shows_facts_derived_facts_and_derivations(mauritius):
    report, sources = mauritius
    drain = next(f for f in report["findings"] if f["criterion"] == "WORKFORCE-DRAIN")
    out = render_html(report, sources)
    article = out[out.index(f'id="f-{drain["fingerprint"]}"'):]
    proof = article[article.index('<div class="proof">'): article.index("</article>")]
    kinds = re.findall(r'<li class="node node-(\w+)">', proof)
    assert kinds == ["criterion", "fact", "derived", "derivation", "fact"]
    assert "emigration-drain" in proof and "pressure.6b1d0f3a" in proof
    # nesting: the written fact under the derivation is three lists deep
    assert proof.count("<ul") == proof.count("</ul>") == 4
    assert proof.count("<li") == proof.count("</li>") == 5


def test_trace_items_nest_without_recursion():
    deep = {"kind": "criterion", "id": "C", "children": []}
    node = deep
    for i in range(5000):
        child = {"kind": "derived", "id": f"d{i}", "children": []}
        node["children"].append(child)
        node = child
    items, cut = html_render.trace_items(deep)
    assert cut and len(items) == html_render.TRACE_MAX_DEPTH
    assert sum(i["close"] for i in items) == html_render.TRACE_MAX_DEPTH - 1


def test_same_input_gives_the_same_bytes(mauritius):
    report, sources = mauritius
    first = render_html(report, sources)
    shuffled_report = json.loads(json.dumps(report, sort_keys=False))
    shuffled_report = dict(reversed(list(shuffled_report.items())))
    shuffled_sources = dict(reversed(list(sources.items())))
    assert render_html(shuffled_report, shuffled_sources) == first
    assert render_html(copy.deepcopy(report), dict(sources)) == first


def test_an_empty_report_renders():
    out = render_html({"schema": "coherence-report/1", "summary": {"coherence_index": None}, "findings": []}, {})
    assert_well_formed_page(out)
    assert "No findings" in out and "n/a" in out


# --------------------------------------------------------------------------- hostile input

HOSTILE = [
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=1</script>",
    "<svg onload=window.__pwned=1>",
    "' onmouseover='window.__pwned=1' x='",
]


def test_hostile_input_appears_only_escaped(hostile):
    out = render_html(*hostile)
    page = assert_well_formed_page(out)
    from markupsafe import escape

    for payload in HOSTILE:
        assert payload not in out
        assert str(escape(payload)) in out
    # the payloads are shown to the reader as text
    text = "".join(page.text)
    for payload in HOSTILE:
        assert payload in text
    # template syntax from the input is shown, not evaluated
    assert "{{ 7*7 }}" in out and "{% if true %}evaluated{% endif %}" in out
    assert "49" not in text.replace("{{ 7*7 }}", "")


def test_hostile_input_cannot_add_attributes_or_anchors(hostile):
    out = render_html(*hostile)
    page = Page(out)
    # filter data keeps the hostile text as one attribute value
    dims = [a["data-dimension"] for t, a in page.tags if t == "article"]
    assert 'horizontal" onmouseover="window.__pwned=1' in dims
    # anchors made from hostile fingerprints and ids are plain
    assert sorted(a["id"] for t, a in page.tags if t == "article") == [
        "f-javascript_window.__pwned_1", "f-script_window.__pwned_1_script", "f-script_window.__pwned_1_script_-3"]
    # a score off the scale is shown as such, not trusted
    assert 'data-score="na"' in out


def test_hostile_batch_and_diff_pages(hostile):
    report, _ = hostile
    batch = {
        "schema": "coherence-batch/1",
        "ruleset": [HOSTILE[0]],
        "criteria": [HOSTILE[1], "ADM-SECTOR"],
        "sets": [{"name": HOSTILE[2], "status": "failed", "summary": {}, "findings": report["findings"],
                  "diagnostics": report["diagnostics"]}],
        "matrix": [{"set": HOSTILE[2], "cells": {HOSTILE[1]: {"count": 1, "worst": -3}}}],
    }
    out = render_batch_html(batch)
    assert_well_formed_page(out)
    for payload in HOSTILE[:3]:
        assert payload not in out
    diff = {"schema": "coherence-diff/1", "old": HOSTILE[0], "new": HOSTILE[3],
            "new_findings": report["findings"], "resolved": [], "unchanged": report["findings"][:1]}
    out = render_diff_html(diff)
    assert_well_formed_page(out)
    for payload in HOSTILE:
        assert payload not in out


# --------------------------------------------------------------------------- batch and diff


def test_batch_page(mauritius):
    report, _ = mauritius
    codes = sorted({f["criterion"] for f in report["findings"]} | {"SILO"})
    cells = {}
    for f in report["findings"]:
        cell = cells.setdefault(f["criterion"], {"count": 0, "worst": 3})
        cell["count"] += 1
        cell["worst"] = min(cell["worst"], f["score"])
    batch = {
        "schema": "coherence-batch/1",
        "ruleset": [{"name": "core", "title": "Core criteria for migration policy coherence", "version": "0.1"}],
        "criteria": codes,
        "sets": [
            {"name": "mauritius", "status": "ok", "summary": report["summary"], "findings": report["findings"],
             "diagnostics": []},
            {"name": "seychelles", "status": "ok", "summary": {"findings": 0, "coherence_index": None},
             "findings": [], "diagnostics": []},
            {"name": "broken", "status": "failed", "summary": {}, "findings": [],
             "diagnostics": report["diagnostics"]},
        ],
        "matrix": [{"set": "mauritius", "cells": cells}, {"set": "seychelles", "cells": {}},
                   {"set": "broken", "cells": {}}],
    }
    out = render_batch_html(batch)
    page = assert_well_formed_page(out)
    assert render_batch_html(batch) == out
    text = " ".join(" ".join(page.text).split())
    assert "3 policy sets" in text and "2 checked · 1 failed" in text
    assert "could not be checked" in text
    details = [a for t, a in page.tags if t == "details" and "set" in (a.get("class") or "")]
    assert [d["id"] for d in details] == ["set-mauritius", "set-seychelles", "set-broken"]
    assert not any("open" in d for d in details)  # collapsed
    matrix = out[out.index('<table class="matrix batch-matrix">'): out.index("</table>")]
    assert matrix.count('class="cell s-m2"') == 2 and matrix.count('class="cell s-p2"') == 1
    assert matrix.count('class="cell empty"') == 3 * len(codes) - len(cells)
    adm = next(f for f in report["findings"] if f["criterion"] == "ADM-SECTOR")
    assert f'href="#set-mauritius-f-{adm["fingerprint"]}"' in matrix


def test_diff_page(mauritius):
    report, _ = mauritius
    findings = report["findings"]
    diff = {"schema": "coherence-diff/2", "old": "policies/v1", "new": "policies/v2",
            "new_findings": findings[:2], "resolved": findings[2:3], "status_changed": [], "unchanged": findings[3:]}
    out = render_diff_html(diff)
    page = assert_well_formed_page(out)
    assert render_diff_html(diff) == out
    text = " ".join(" ".join(page.text).split())
    assert "from policies/v1 to policies/v2" in text
    assert "New findings (2)" in text and "Resolved findings (1)" in text and "Unchanged findings (2)" in text
    sections = [a["id"] for t, a in page.tags if t == "section" and a.get("id")]
    assert sections[1:] == ["new", "resolved", "changed", "unchanged"]
    # a resolved finding says so, not that it is open
    resolved = out[out.index('id="resolved"'):out.index('id="changed"')]
    assert "st-resolved" in resolved and "st-open" not in resolved
    # a finding may be in two sections of a diff page without clashing anchors
    both = dict(diff, resolved=findings[:1])
    assert_well_formed_page(render_diff_html(both))


# --------------------------------------------------------------------------- without Jinja2


def test_missing_jinja2_gives_a_clear_error(monkeypatch, mauritius):
    html_render._environment.cache_clear()
    monkeypatch.setitem(sys.modules, "jinja2", None)
    try:
        with pytest.raises(RuntimeError, match=r"pip install 'coherence-rules\[html\]'"):
            render_html(*mauritius)
    finally:
        html_render._environment.cache_clear()
