"""The UK health workforce example (policies/uk-health-workforce): the WHO Code's
government-to-government case, and the vertical ADM-SECTOR finding.

The recruitment of nurses from Kenya (`NHS-IR.kenya`) is carried out `under` the UK-Kenya agreement.
Kenya is not on the WHO Health Workforce Support and Safeguards List 2023 (the shipped reference
facts), so the set gives no WHO-SAFEGUARD for it in any case; to show what `under` does, the copies
below also mark Kenya as on the list, as the code of practice treated it when the agreement was
published in 2021.
"""

from __future__ import annotations

import datetime
import re
import shutil
from pathlib import Path

import pytest

import coherence_rules

POLICIES = Path(__file__).parent.parent / "policies"
UK = POLICIES / "uk-health-workforce"
REFERENCE = POLICIES / "reference"
AS_OF = datetime.date(2026, 11, 23)

KENYA_MEASURE = "NHS-IR.kenya"


def _check(directory: Path):
    report = coherence_rules.check([directory], with_=[REFERENCE], as_of=AS_OF)
    assert not report.errors, report.errors
    return report


def _who(report) -> list[list[str]]:
    return sorted(sorted(f.facts) for f in report.findings if f.criterion == "WHO-SAFEGUARD")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of the set in which Kenya is on the safeguards list."""
    directory = tmp_path / "uk-health-workforce"
    shutil.copytree(UK, directory)
    _edit(directory / "institutions.policy", 'jurisdiction KEN "Republic of Kenya" { level: national  iso3: "KEN" }',
          'jurisdiction KEN "Republic of Kenya" { level: national  iso3: "KEN"  safeguard_list: true }')
    return directory


def test_no_who_safeguard_on_the_kenya_measure():
    who = _who(_check(UK))
    assert who == [["NGA", "NHS-IR.partners"]]
    assert not [facts for facts in who if KENYA_MEASURE in facts or "KEN" in facts]


def test_under_the_agreement_is_the_government_to_government_case(copy):
    # Kenya on the list, the recruitment under the agreement Kenya is party to: still no finding.
    assert _who(_check(copy)) == [["NGA", "NHS-IR.partners"]]


def test_without_under_the_kenya_measure_is_reported(copy):
    _edit(copy / "recruitment-programme.policy", "  under: UK-KE\n", "")
    assert "under:" not in (copy / "recruitment-programme.policy").read_text(encoding="utf-8")
    who = _who(_check(copy))
    assert ["KEN", KENYA_MEASURE] in who
    assert who == [["KEN", KENYA_MEASURE], ["NGA", "NHS-IR.partners"]]


def test_without_under_and_kenya_off_the_list_nothing_is_reported(tmp_path):
    # The shipped facts: Kenya is not on the 2023 list, so even without `under` there is no finding.
    directory = tmp_path / "uk-health-workforce"
    shutil.copytree(UK, directory)
    _edit(directory / "recruitment-programme.policy", "  under: UK-KE\n", "")
    assert _who(_check(directory)) == [["NGA", "NHS-IR.partners"]]


def test_adm_sector_is_vertical_and_names_both_levels():
    report = _check(UK)
    adm = [f for f in report.findings if f.criterion == "ADM-SECTOR"]
    assert [sorted(f.facts) for f in adm] == [["ASCWS.posts", "HC997.care-workers"]]
    message = adm[0].message
    assert re.search(r"\bnational measure\b", message), message
    assert re.search(r"\bsubnational objective\b", message), message
    assert "United Kingdom" in message and "England" in message
