"""The HTML report in a real browser: it loads cleanly, filters, expands, prints, and runs no input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).parent.parent / "fixtures"
REPORT = json.loads((FIXTURES / "report_mauritius.json").read_text(encoding="utf-8"))


def finding_id(code: str) -> str:
    finding = next(f for f in REPORT["findings"] if f["criterion"] == code)
    return "#f-" + finding["fingerprint"]


def test_page_loads_without_errors_and_is_screenshotted(tab, report_url, artifacts):
    page = tab.page
    page.goto(report_url)
    page.wait_for_load_state("load")
    assert page.title() == "Policy coherence report"
    assert page.locator("#filters").is_visible()  # the script ran and showed the filters
    assert page.locator("#filter-count").inner_text() == "Showing all 5 findings"
    assert page.locator("#matrix table.matrix").is_visible()
    page.screenshot(path=str(artifacts / "report.png"), full_page=True)
    assert (artifacts / "report.png").stat().st_size > 10_000
    assert tab.errors == []


def test_filtering_by_score_hides_the_synergy(tab, report_url):
    page = tab.page
    page.goto(report_url)
    synergy = page.locator(finding_id("SKILLS-PARTNERSHIP"))
    conflict = page.locator(finding_id("ADM-SECTOR"))
    assert synergy.is_visible() and conflict.is_visible()

    page.click('#filters button[data-none="score"]')
    assert not conflict.is_visible() and not synergy.is_visible()
    assert page.locator("#no-match").is_visible()
    page.check('#filters input[name="score"][value="-2"]')
    assert conflict.is_visible()
    assert not synergy.is_visible()
    assert page.locator(finding_id("WORKFORCE-DRAIN")).is_visible()
    assert page.locator("#filter-count").inner_text() == "Showing 2 of 5 findings"
    # a group left without visible findings is hidden with them
    assert not page.locator("#g-FRMU--HSS").is_visible()

    page.uncheck('#filters input[name="status"][value="accepted"]')
    assert not page.locator(finding_id("WORKFORCE-DRAIN")).is_visible()
    page.click('#filters input[name="dimension"][value="horizontal"]')
    assert not conflict.is_visible()

    page.click("#filter-reset")
    assert synergy.is_visible() and conflict.is_visible()
    assert page.locator("#filter-count").inner_text() == "Showing all 5 findings"
    assert tab.errors == []


def test_expanding_the_proof_shows_the_cited_article(tab, report_url):
    page = tab.page
    page.goto(report_url)
    finding = page.locator(finding_id("ADM-SECTOR"))
    excerpt = finding.locator("pre.source").first
    proof = finding.locator("ul.tree")
    assert not excerpt.is_visible() and not proof.is_visible()

    finding.locator("details.why > summary").click()
    assert excerpt.is_visible()
    # the objective sits in the health plan's Markdown: the legal paragraph it encodes is shown
    prose = finding.locator("blockquote.prose").first
    assert prose.is_visible()
    assert "expand the domestic nursing workforce by 20% by 2024" in prose.inner_text()
    assert "```" not in prose.inner_text() and "objective HSS.2.1" not in prose.inner_text()
    # the measure is a .policy fact: shown whole, from its header to its closing brace
    marked = finding.locator(".src-line.hit").first
    assert marked.is_visible() and "measure WPR.7" in marked.inner_text()
    assert excerpt.inner_text().rstrip().endswith("}")
    assert proof.is_visible()
    assert "WPR.7" in proof.inner_text()
    assert tab.errors == []


def test_a_matrix_cell_leads_to_its_findings_even_when_filtered_out(tab, report_url):
    page = tab.page
    page.goto(report_url)
    page.click('#filters button[data-none="score"]')
    adm = page.locator(finding_id("ADM-SECTOR"))
    assert not adm.is_visible()
    page.click('#matrix a[href="#g-HSS--WPR"]')
    page.wait_for_function("location.hash === '#g-HSS--WPR'")
    assert adm.is_visible()  # the filters were reset to show the target
    assert adm.is_visible() and adm.bounding_box() is not None
    assert tab.errors == []


def test_print_layout_hides_filters_and_shows_everything(tab, report_url):
    page = tab.page
    page.goto(report_url)
    page.click('#filters button[data-none="score"]')
    page.emulate_media(media="print")
    assert not page.locator("#filters").is_visible()
    assert page.locator(finding_id("SKILLS-PARTNERSHIP")).is_visible()
    # printing opens every collapsed section
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert page.locator(finding_id("ADM-SECTOR") + " pre.source").first.is_visible()
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    page.emulate_media(media="screen")
    assert not page.locator(finding_id("ADM-SECTOR") + " pre.source").first.is_visible()


def test_hostile_report_runs_no_script(tab, hostile_url):
    page = tab.page
    page.goto(hostile_url)
    page.wait_for_load_state("load")
    # open everything and fire the events an injected handler would wait for, on every element
    page.click("#expand-all")
    fired = page.evaluate(
        """() => {
            const kinds = ["mouseover", "mouseenter", "mousemove", "focus", "load", "error", "toggle"];
            const all = document.querySelectorAll("body *");
            all.forEach(e => kinds.forEach(k => e.dispatchEvent(new Event(k))));
            return all.length;
        }"""
    )
    assert fired > 100
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # the payloads are shown as text
    body = page.locator("body").inner_text()
    assert "<script>window.__pwned=1</script>" in body
    assert '"><img src=x onerror="window.__pwned=1">' in body
    assert "{{ 7*7 }}" in body
    assert page.locator("img, svg, iframe").count() == 0
    assert page.locator("script").count() == 1
    # the filters still work with hostile dimension names
    page.click('#filters button[data-none="dimension"]')
    assert page.locator("#filter-count").inner_text() == "Showing 0 of 3 findings"
    page.click("#filter-reset")
    assert page.locator("#filter-count").inner_text() == "Showing all 3 findings"
    # a blocked injection would show up as a CSP error: there must be none
    assert tab.errors == []


def test_batch_page_cell_opens_its_set(tab, tmp_path):
    from coherence_rules.render.html import render_batch_html

    adm = next(f for f in REPORT["findings"] if f["criterion"] == "ADM-SECTOR")
    batch = {
        "schema": "coherence-batch/1",
        "ruleset": ["core"],
        "criteria": ["ADM-SECTOR", "SILO"],
        "sets": [
            {"name": "mauritius", "status": "ok", "summary": REPORT["summary"], "findings": [adm], "diagnostics": []},
            {"name": "broken", "status": "failed", "summary": {}, "findings": [], "diagnostics": REPORT["diagnostics"]},
        ],
        "matrix": [{"set": "mauritius", "cells": {"ADM-SECTOR": {"count": 1, "worst": -2}}},
                   {"set": "broken", "cells": {}}],
    }
    path = tmp_path / "batch.html"
    path.write_text(render_batch_html(batch), encoding="utf-8")
    page = tab.page
    page.goto(path.as_uri())
    finding = page.locator(f"#set-mauritius-f-{adm['fingerprint']}")
    assert not finding.is_visible()  # sets are collapsed
    page.click("#matrix td.cell.s-m2 a")
    assert finding.is_visible()
    assert tab.errors == []
