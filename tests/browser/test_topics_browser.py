"""The topic matrix of the whole corpus (`batch policies/agreements/* --view topics -f html`) in a real
browser: it loads under its Content-Security-Policy, sorts, filters rows and columns, links each
cell to the article's words, draws the chart, and is screenshotted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AGREEMENTS = ROOT / "policies" / "agreements"
AS_OF = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def topics(tmp_path_factory):
    """file:// URL of the corpus's topic matrix, and the document it shows."""
    pytest.importorskip("jinja2")
    from coherence_rules.commands.batch import run_batch
    from coherence_rules.commands.topics import topics_document
    from coherence_rules.render.topics_html import render_topics_html

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        # what the shell makes of `policies/agreements/*`: the README is skipped
        result = run_batch(sorted(str(p.relative_to(ROOT)) for p in AGREEMENTS.iterdir()), jobs=2, as_of=AS_OF)
    doc = topics_document(result)
    path = tmp_path_factory.mktemp("topics") / "topics.html"
    path.write_text(render_topics_html(doc), encoding="utf-8")
    return path.as_uri(), doc


def visible_agreements(page) -> list[str]:
    return page.eval_on_selector_all(
        "#topic-matrix tbody tr:not([hidden]) .ag-id", "nodes => nodes.map(n => n.textContent.trim())")


def test_the_matrix_loads_sorts_and_is_screenshotted(tab, topics, artifacts):
    url, doc = topics
    page = tab.page
    page.goto(url)
    page.wait_for_load_state("load")
    assert page.title() == "Agreements and the topics they cover"
    assert page.locator("#topic-filters").is_visible()  # the script ran under the page's CSP
    assert page.locator("#row-count").inner_text() == "Showing all 19 rows"
    assert visible_agreements(page) == [r["agreement"] for r in doc["rows"]]

    page.select_option("#sort-key", "signed")
    order = visible_agreements(page)
    assert order[:2] == ["NL-FR-1948", "NL-IT-1948"] and order[-1] == "SS-NL-PT-1979"
    signed = [r["signed"] for r in sorted(doc["rows"], key=lambda r: r["signed"])]
    assert page.eval_on_selector_all("#topic-matrix tbody tr", "rows => rows.map(r => r.dataset.signed)") == signed
    page.check("#sort-desc")
    assert visible_agreements(page)[0] == "SS-NL-PT-1979"
    page.uncheck("#sort-desc")
    page.select_option("#sort-key", "coverage")
    page.check("#sort-desc")
    first = visible_agreements(page)[:2]
    assert all(next(r for r in doc["rows"] if r["agreement"] == a)["coverage"]["covered"]
               == next(r for r in doc["rows"] if r["agreement"] == a)["coverage"]["of"] for a in first)
    page.select_option("#sort-key", "signed")
    page.uncheck("#sort-desc")

    page.screenshot(path=str(artifacts / "topics.png"), full_page=True)
    assert (artifacts / "topics.png").stat().st_size > 50_000
    assert tab.errors == []


def test_filters_rows_and_columns(tab, topics):
    url, _ = topics
    page = tab.page
    page.goto(url)
    page.uncheck('#topic-filters input[name="kind"][value="social_security"]')
    assert page.locator("#row-count").inner_text() == "Showing 11 of 19 rows"
    assert all(not a.startswith("SS-") for a in visible_agreements(page))
    page.check('#topic-filters input[name="kind"][value="social_security"]')

    page.fill("#row-text", "morocco")
    assert visible_agreements(page) == ["NL-MA-1969", "SS-NL-MA-1972"]
    page.fill("#row-text", "no such agreement")
    assert visible_agreements(page) == [] and page.locator("#no-rows").is_visible()
    page.fill("#row-text", "")
    assert len(visible_agreements(page)) == 19

    family = page.locator("#topic-matrix thead th.topic", has_text="Family reunification")
    journey = page.locator("#topic-matrix thead th.topic", has_text="Journey")
    assert family.is_visible() and journey.is_visible()
    page.check('#topic-filters input[name="columns"][value="checklist"]')
    assert not family.is_visible() and journey.is_visible()
    assert not page.locator("#topic-matrix tfoot td.col-other").first.is_visible()

    page.click("#filter-reset")
    assert family.is_visible() and page.locator("#row-count").inner_text() == "Showing all 19 rows"
    assert tab.errors == []


def test_a_cell_opens_the_article(tab, topics):
    url, doc = topics
    page = tab.page
    page.goto(url)
    clause = page.locator("#cl-NL-TR-1964\\.A11\\.travel")
    assert not clause.is_visible()  # inside the agreement's closed section
    page.click('#topic-matrix a[href="#cl-NL-TR-1964.A11.travel"]')
    assert clause.is_visible()
    assert "Art. 11(2)-(3)" in clause.inner_text() and "Le transport depuis les lieux de départ" in clause.inner_text()
    assert clause.locator(".position").inner_text() == "employer_pays"
    # a checklist topic the agreement misses is a shaded, empty cell
    gaps = page.locator("#topic-matrix td.gap")
    assert gaps.count() == sum(r["coverage"]["of"] - r["coverage"]["covered"] for r in doc["rows"])
    assert tab.errors == []


def test_the_chart_of_coverage_by_year(tab, topics):
    url, doc = topics
    page = tab.page
    page.goto(url)
    chart = page.locator("svg.year-chart")
    assert chart.is_visible()
    assert page.locator("svg.year-chart circle.dot").count() == sum(len(r["cells"]) for r in doc["rows"])
    labels = page.eval_on_selector_all("svg.year-chart text.topic-label", "nodes => nodes.map(n => n.textContent)")
    assert labels[:2] == ["Who may recruit", "Labour market test"] and "Family reunification" in labels
    page.click("details.chart-table > summary")
    table = page.locator("details.chart-table table")
    assert table.is_visible()
    training = table.locator("tr", has_text="training").inner_text()
    assert "1948" in training and "1971" in training
    assert tab.errors == []
