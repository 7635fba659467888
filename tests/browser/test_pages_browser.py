"""The pages a drafter circulates, rendered from today's output and looked at in a real browser:
the report of the Mauritius set with the reference facts, and the diff page of an amendment that
resolves one finding, accepts another and introduces a third. Both are screenshotted
(``tests/browser/artifacts/``) for a person to look at."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

import coherence_rules as C
from coherence_rules.render import render_report
from coherence_rules.render.batch_text import render_diff

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 11, 23)

RESOLVE = ('objective NMDP.2 "Reverse the brain drain of highly skilled Mauritians" {',
           'objective NMDP.2 "Reverse the brain drain of highly skilled Mauritians" {\n'
           '  indicator: "highly skilled Mauritians returning per year"')
AMEND = """
# Amendment 2026/4: a protection objective, not yet monitored.
objective NMDP.6 "Protect Mauritian workers abroad from abusive recruitment" {
  instrument: NMDP
  aim: protect
  target: protection
  group: workers
}

accept LABOUR-NO-EVIDENCE on [WPR.7] { reason: "Shortage study commissioned, due in 2027"  until: 2027-12-31 }
"""


def test_the_report_of_the_mauritius_set(tab, tmp_path, artifacts):
    report = C.check([ROOT / "policies" / "mauritius"], with_=[ROOT / "policies" / "reference"], as_of=AS_OF)
    page_file = tmp_path / "report.html"
    page_file.write_text(render_report(report, "html"), encoding="utf-8")
    page = tab.page
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    assert page.title().startswith("Mauritius")
    assert "Republic of Mauritius" in page.locator(".set-jurisdictions").inner_text()
    assert page.locator("#filter-count").inner_text() == f"Showing all {len(report.findings)} findings"
    cards = page.locator("#findings article")
    text = " ".join(cards.all_inner_texts())
    for f in report.findings:
        assert f.message in text
    assert "<builtin>" not in text
    page.screenshot(path=str(artifacts / "report-mauritius.png"), full_page=True)
    assert tab.errors == []


def test_the_diff_page_of_an_amendment(tab, tmp_path, artifacts, monkeypatch):
    for name in ("before", "after"):
        shutil.copytree(ROOT / "policies" / "mauritius", tmp_path / name)
    path = tmp_path / "after" / "instruments.policy"
    path.write_text(path.read_text(encoding="utf-8").replace(*RESOLVE, 1) + AMEND, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = C.diff("before", "after", with_=[ROOT / "policies" / "reference"], as_of=AS_OF)
    page_file = tmp_path / "diff.html"
    page_file.write_text(render_diff(result, "html"), encoding="utf-8")
    page = tab.page
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    resolved = page.locator("#resolved")
    assert "Resolved findings (1)" in resolved.locator("h2").inner_text()
    assert "indicator changed from (none) to highly skilled Mauritians returning per year" in resolved.inner_text()
    assert "Not resolved" not in resolved.inner_text()
    assert "New findings (1)" in page.locator("#new h2").inner_text()
    assert "Accepted (was open)" in page.locator("#changed").inner_text()
    page.screenshot(path=str(artifacts / "diff.png"), full_page=True)
    assert tab.errors == []
