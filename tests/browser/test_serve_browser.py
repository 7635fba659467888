"""The drafting page of `coherence serve` in a real browser, against a real server process: typing
re-checks the set, a finding highlights its facts' lines, saving writes the file, a file
changed on disk is not overwritten, and a hostile title runs nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from tests.serve.live import LiveServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MAURITIUS = ROOT / "policies" / "mauritius"
AS_OF = "2026-11-23"
#: How long to wait for the page to show a result: generous, a check takes milliseconds; this is
#: a limit for a stuck page, not a measure of speed.
WAIT_MS = 20_000

HOSTILE_TITLE = "<img src=x onerror=\"document.title='pwned';window.__pwned=1\">"
QUOTED_TITLE = HOSTILE_TITLE.replace('"', '\\"')  # as the language writes it in a string


def expect():
    from playwright.sync_api import expect as _expect

    _expect.set_options(timeout=WAIT_MS)
    return _expect


def card(page, code: str, fact: str | None = None):
    loc = page.locator(f'#findings article.finding[data-criterion="{code}"]')
    return loc.filter(has_text=fact) if fact else loc


def facilitate_wpr7(directory: Path) -> None:
    """WPR.7 facilitates instead of restricting admission: no ADM-SECTOR until someone types restrict."""
    path = directory / "instruments.policy"
    text = path.read_text(encoding="utf-8")
    at = text.index("effect: restrict", text.index("measure WPR.7"))
    path.write_text(text[:at] + "effect: facilitate" + text[at + len("effect: restrict"):], encoding="utf-8")


@pytest.fixture
def served(tmp_path) -> Path:
    target = tmp_path / "mauritius"
    shutil.copytree(MAURITIUS, target)
    return target


def live(served: Path) -> LiveServer:
    """The server of ``served``, started from its parent directory (as a drafter would start it)."""
    return LiveServer(Path(served.name), "--as-of", AS_OF, cwd=served.parent)


@pytest.fixture
def server(served):
    with live(served) as running:
        yield running


def open_page(tab, server):
    page = tab.page
    page.goto(server.url)
    expect()(page.locator("#check-status")).to_have_attribute("data-state", "fresh")
    return page


def show_file(page, name: str) -> None:
    page.locator(f'#file-tabs button.tab[data-name="{name}"]').click()
    expect()(page.locator("#file-name")).to_have_text(name)


def select_text(page, needle: str, after: str = "") -> None:
    """Select the first ``needle`` after ``after`` in the editor, as a user's double click would."""
    page.locator("#source").evaluate(
        """(ta, [needle, after]) => {
             const from = ta.value.indexOf(needle, ta.value.indexOf(after));
             if (from < 0) { throw new Error("not in the text: " + needle); }
             ta.focus();
             ta.setSelectionRange(from, from + needle.length);
           }""", [needle, after])


def record_states(page) -> None:
    """Keep every state the status line takes from now on (window.__states)."""
    page.evaluate("""() => {
        window.__states = [];
        const s = document.getElementById("check-status");
        new MutationObserver(() => window.__states.push(s.dataset.state))
          .observe(s, {attributes: true, attributeFilter: ["data-state"]});
      }""")


def test_typing_restrict_brings_adm_sector_and_an_edit_removes_a_finding(tab, served, artifacts):
    facilitate_wpr7(served)
    with live(served) as server:
        page = open_page(tab, server)
        ex = expect()
        assert page.title().startswith("Drafting mauritius")
        ex(card(page, "ADM-SECTOR")).to_have_count(0)
        ex(card(page, "OBJ-NO-INDICATOR", "NMDP.2")).to_have_count(1)

        show_file(page, "instruments.policy")
        record_states(page)
        select_text(page, "facilitate", "measure WPR.7")
        page.keyboard.type("restrict")
        ex(card(page, "ADM-SECTOR")).to_have_count(1)
        ex(page.locator("#check-status")).to_have_attribute("data-state", "fresh")
        states = page.evaluate("window.__states")
        assert "stale" in states and "checking" in states, states  # the page said the findings were out of date
        assert states[-1] == "fresh"
        adm = card(page, "ADM-SECTOR")
        ex(adm.locator(".badge")).to_have_text("-2 counteracting")
        ex(adm.locator(".status")).to_have_text("Open")
        ex(page.locator('#file-tabs button[data-name="instruments.policy"] .dirty')).to_have_count(1)

        # give NMDP.2 an indicator: its OBJ-NO-INDICATOR goes, HSS.4.2's stays
        select_text(page, "group: high_skilled_workers", "objective NMDP.2")
        page.keyboard.press("End")
        page.keyboard.type('\n  indicator: "graduates returning each year"')
        ex(card(page, "OBJ-NO-INDICATOR", "NMDP.2")).to_have_count(0)
        ex(card(page, "OBJ-NO-INDICATOR", "HSS.4.2")).to_have_count(1)
        ex(page.locator("#check-status")).to_have_attribute("data-state", "fresh")
        card(page, "ADM-SECTOR").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "serve-typing.png"))
        # nothing was saved: the disk still has the text the server started with
        assert "effect: facilitate" in (served / "instruments.policy").read_text(encoding="utf-8")
        assert tab.errors == []


def test_clicking_a_finding_highlights_the_lines_of_its_facts(tab, server, served, artifacts):
    page = open_page(tab, server)
    ex = expect()
    lines = (served / "instruments.policy").read_text(encoding="utf-8").split("\n")
    first = next(i for i, line in enumerate(lines, 1) if line.startswith("measure WPR.7"))
    last = next(i for i, line in enumerate(lines, 1) if i > first and line == "}")

    adm = card(page, "ADM-SECTOR")
    adm.locator(".message").click()
    ex(adm).to_have_class(re.compile(r"\bselected\b"))
    ex(page.locator("#file-name")).to_have_text("instruments.policy")
    mark = page.locator("#marks .mark")
    ex(mark).to_have_count(1)
    ex(mark).to_have_attribute("data-from", str(first))
    ex(mark).to_have_attribute("data-to", str(last))
    ex(mark).to_be_visible()
    # the other fact is in the health strategy, whose tab is marked too
    ex(page.locator('#file-tabs button[data-name="health-strategy.md"]')).to_have_class(re.compile("tab-marked"))

    # the proof, on demand
    tree = adm.locator("ul.tree")
    ex(tree).to_have_count(0)
    adm.locator("details.why > summary").click()
    ex(tree).to_be_visible()
    ex(tree).to_contain_text("WPR.7")
    ex(tree).to_contain_text("HSS.2.1")
    # the advice's `accept ...` statement is set as code, as in the HTML report
    ex(adm.locator(".advice code")).to_contain_text("accept ADM-SECTOR on [HSS.2.1, WPR.7]")
    page.screenshot(path=str(artifacts / "serve-highlight.png"))

    # a fact's link opens its file at its lines
    adm.locator("button.fact-id", has_text="HSS.2.1").click()
    ex(page.locator("#file-name")).to_have_text("health-strategy.md")
    hss = page.locator("#marks .mark")
    ex(hss).to_have_count(1)
    text = (served / "health-strategy.md").read_text(encoding="utf-8").split("\n")
    header = next(i for i, line in enumerate(text, 1) if "objective HSS.2.1" in line)
    ex(hss).to_have_attribute("data-from", str(header))
    assert tab.errors == []


def test_save_writes_the_file_and_a_reload_shows_it(tab, server, served, artifacts):
    page = open_page(tab, server)
    ex = expect()
    show_file(page, "institutions.policy")
    page.locator("#source").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n# reviewed by the drafting committee\n")
    ex(page.locator("#file-state")).to_have_text("edited, not saved")
    page.locator("#save").click()
    ex(page.locator("#save-message")).to_contain_text("Saved institutions.policy")
    ex(page.locator("#file-state")).to_have_text("saved")
    on_disk = (served / "institutions.policy").read_text(encoding="utf-8")
    assert on_disk.endswith("\n# reviewed by the drafting committee\n")

    page.reload()
    ex(page.locator("#check-status")).to_have_attribute("data-state", "fresh")
    show_file(page, "institutions.policy")
    assert page.locator("#source").input_value() == on_disk
    assert tab.errors == []


def test_a_file_changed_on_disk_is_not_overwritten_and_the_page_says_so(tab, server, served, artifacts):
    page = open_page(tab, server)
    ex = expect()
    show_file(page, "instruments.policy")
    path = served / "instruments.policy"
    elsewhere = path.read_text(encoding="utf-8") + "# edited in another editor\n"
    path.write_text(elsewhere, encoding="utf-8")
    page.locator("#source").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("# mine\n")
    page.keyboard.press("Control+s")
    message = page.locator("#save-message")
    ex(message).to_have_attribute("data-kind", "conflict")
    ex(message).to_contain_text("changed on disk since you loaded it")
    ex(page.locator("#reload-file")).to_be_visible()
    page.screenshot(path=str(artifacts / "serve-conflict.png"))
    assert path.read_text(encoding="utf-8") == elsewhere
    page.locator("#reload-file").click()
    ex(page.locator("#save-message")).to_contain_text("Reloaded instruments.policy")
    assert page.locator("#source").input_value() == elsewhere
    # the only console error is the browser's note of the refused request
    assert [e for e in tab.errors if "409" not in e] == []


def test_recording_an_accepted_trade_off(tab, server, served):
    page = open_page(tab, server)
    ex = expect()
    adm = card(page, "ADM-SECTOR")
    adm.locator('button[data-action="accept"]').click()
    form = page.locator("#accept-form")
    ex(form).to_be_visible()
    ex(page.locator("#accept-what")).to_have_text("accept ADM-SECTOR on [HSS.2.1, WPR.7]")
    ex(page.locator("#accept-file")).to_have_value("instruments.policy")
    page.locator("#accept-reason").fill('Cabinet decision 2019/41 ("stopgap")')
    page.locator("#accept-until").fill("2027-12-31")
    form.locator('button[type="submit"]').click()
    ex(form).to_be_hidden()
    ex(adm.locator(".status")).to_have_text("Accepted")
    ex(adm.locator(".acceptance")).to_contain_text('Cabinet decision 2019/41 ("stopgap")')
    assert (served / "instruments.policy").read_text(encoding="utf-8").endswith(
        'accept ADM-SECTOR on [HSS.2.1, WPR.7] { reason: "Cabinet decision 2019/41 (\\"stopgap\\")"  '
        "until: 2027-12-31 }\n")
    assert tab.errors == []


def test_a_hostile_title_runs_no_script(tab, served, artifacts):
    text = (f'objective NMDP.9 "{QUOTED_TITLE}" {{\n  instrument: NMDP\n  sector: development\n  aim: increase\n'
            '  target: return\n  cite: "</textarea><script>window.__pwned=2</script>"\n}\n')
    (served / "hostile.policy").write_text(text, encoding="utf-8")
    with live(served) as server:
        page = open_page(tab, server)
        ex = expect()
        hostile = card(page, "OBJ-NO-INDICATOR", "NMDP.9")
        ex(hostile).to_have_count(1)
        ex(hostile.locator(".articles")).to_contain_text(HOSTILE_TITLE)
        hostile.locator(".message").click()
        ex(page.locator("#file-name")).to_have_text("hostile.policy")
        hostile.locator("details.why > summary").click()
        ex(hostile.locator("ul.tree")).to_contain_text("</textarea><script>")
        # the title reaches the advice too: its backticks make code spans of text, never markup
        ex(hostile.locator(".advice")).to_contain_text("What to do:")
        assert page.locator("#findings img, #findings script, #editor img, #editor script").count() == 0
        assert page.evaluate("window.__pwned") is None
        assert "pwned" not in page.title()
        assert page.locator("#source").input_value() == text
        page.screenshot(path=str(artifacts / "serve-hostile.png"))
        assert tab.errors == []


def test_a_set_that_does_not_check_shows_its_diagnostics(tab, server, artifacts):
    page = open_page(tab, server)
    ex = expect()
    show_file(page, "instruments.policy")
    select_text(page, "restrict", "measure WPR.7")
    page.keyboard.type("restrictt")
    diag = page.locator("#diagnostics li.diag")
    ex(diag.first).to_be_visible()
    ex(diag.first.locator(".sev")).to_have_text("error")
    ex(page.locator("#summary")).to_contain_text("does not check")
    ex(page.locator("#findings article.finding")).to_have_count(0)
    ex(page.locator("#check-status")).to_have_text(re.compile(r"Up to date · \d+ errors?"))
    diag.first.locator("button.loc").click()
    ex(page.locator("#marks .mark")).to_have_count(1)
    page.screenshot(path=str(artifacts / "serve-diagnostics.png"))
    page.locator("#source").focus()
    page.keyboard.press("Control+z")  # back to `restrict` (one step or the last letter): the findings return
    ex(card(page, "ADM-SECTOR")).to_have_count(1)
    ex(page.locator("#diagnostics li.diag")).to_have_count(0)
    assert tab.errors == []
