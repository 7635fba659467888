"""The example policy sets under policies/ give exactly the findings their READMEs list.

Each set is checked on its own with the built-in core ruleset at a fixed reference date. A
finding is compared as (criterion, fact ids). Facts that are not written in the set itself (facts
derived by rules, such as ``area_in_use``, and reference facts shipped in rulesets, such as
``essential_topic``) have ids the set does not choose, so they are compared as ``DERIVED``.
"""

from __future__ import annotations

import datetime
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

import coherence_rules

POLICIES = Path(__file__).parent.parent / "policies"
AS_OF = datetime.date(2026, 11, 23)

DERIVED = "<not written in the set>"

SETS = {
    "mauritius": POLICIES / "mauritius",
    "kenya-ncm": POLICIES / "kenya-ncm",
    "sweden": POLICIES / "sweden",
    "nl-turkey-1964": POLICIES / "agreements" / "nl-turkey-1964",
    "reference": POLICIES / "reference",
    "uk-health-workforce": POLICIES / "uk-health-workforce",
}

# Sets checked with reference facts (`--with`): those that name the WHO list or the frameworks.
WITH = {
    "uk-health-workforce": [POLICIES / "reference"],
}


def _finding(criterion: str, *ids: str) -> tuple[str, tuple[str, ...]]:
    """An expected finding: written ids sorted, then one ``DERIVED`` per fact not written in the set."""
    written = sorted(i for i in ids if i != DERIVED)
    return criterion, tuple(written) + (DERIVED,) * (len(ids) - len(written))


EXPECTED = {
    "mauritius": [
        _finding("ADM-SECTOR", "HSS.2.1", "WPR.7"),
        _finding("LABOUR-NO-EVIDENCE", "WPR.7"),
        _finding("LABOUR-NO-EVIDENCE", "TES.3.4.1"),
        _finding("INST-NO-LEAD", "NMDP.3.2"),  # the written fact under area_in_use (remittances, MU)
        _finding("OBJ-NO-INDICATOR", "HSS.4.2"),
        _finding("OBJ-NO-INDICATOR", "NMDP.2"),
        _finding("MEASURE-UNFUNDED", "NMDP.4.3"),
        _finding("DIASPORA-SYNERGY", "FIN.4", "NMDP.3.2"),
        _finding("MEASURE-CONFLICT", "TES.3.4.1", "WPR.7"),
        _finding("GENDER-NO-ANALYSIS", "TES"),
    ],
    "kenya-ncm": [
        _finding("SUBNATIONAL-UNCOORDINATED", "KISEDP.M1", "TURKANA-CG"),
        # no INST-NO-LEAD for emigration in Kakamega: the national lead covers the counties
        _finding("OBJ-NO-INDICATOR", "KE-NMP.O2"),
        _finding("GENDER-NO-ANALYSIS", "KE-NMP"),
        _finding("GENDER-NO-ANALYSIS", "KAKAMEGA-CIDP"),
    ],
    "sweden": [
        _finding("INST-TWO-LEADS", "SE-A.lead.labour_migration", "SE-JU.lead.labour_migration"),
        _finding("GENDER-NO-ANALYSIS", "SE-UTL"),
    ],
    # Every topic of the ILO C97 Annex II checklist has a clause: no BLA-GAP.
    "nl-turkey-1964": [],
    "reference": [],
    # Kenya is not on the 2023 WHO list, and NHS-IR.kenya is carried out under the UK-Kenya
    # agreement: no WHO-SAFEGUARD on it (tests/test_uk_example.py).
    "uk-health-workforce": [
        _finding("WHO-SAFEGUARD", "NHS-IR.partners", DERIVED),  # NGA: a reference fact
        _finding("MEASURE-CONFLICT", "COP.red-list", "NHS-IR.partners"),
        _finding("OBJECTIVE-MEASURE", "LTWP.international", "NHS-IR.partners"),
        _finding("OBJECTIVE-MEASURE", "LTWP.international", "NHS-IR.kenya"),
        _finding("ADM-SECTOR", "ASCWS.posts", "HC997.care-workers"),
        _finding("LABOUR-NO-EVIDENCE", "HC997.care-workers"),
        _finding("GENDER-NO-ANALYSIS", "COP"),
        _finding("GENDER-NO-ANALYSIS", "NHS-IR"),
        _finding("NO-CONSULTATION", "COP"),
    ],
}

# Findings whose status is not "open", by set.
NOT_OPEN = {
    "mauritius": {("MEASURE-UNFUNDED", ("NMDP.4.3",)): "accepted"},
    "uk-health-workforce": {("OBJECTIVE-MEASURE", ("LTWP.international", "NHS-IR.kenya")): "accepted"},
}

# A fact header: `TYPE ID "Title"? {`. Accept statements (`accept CODE on [...] {`) do not match.
_FACT_HEADER = re.compile(
    # the title may stand on the next line, as `fmt` puts a long one
    r'^[ \t]*[a-z_][a-z0-9_]*[ \t]+([A-Za-z_][A-Za-z0-9_.\-]*)\s*(?:"(?:[^"\\\n]|\\.)*"\s*)*\{',
    re.MULTILINE,
)
_POLICY_BLOCK = re.compile(r"^```policy[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def written_ids(directory: Path) -> set[str]:
    """Ids of the facts written in a set's .policy files and Markdown `policy` blocks."""
    ids: set[str] = set()
    for path in sorted(directory.rglob("*")):
        if path.suffix == ".policy":
            sources = [path.read_text(encoding="utf-8")]
        elif path.suffix == ".md":
            sources = _POLICY_BLOCK.findall(path.read_text(encoding="utf-8"))
        else:
            continue
        for source in sources:
            ids.update(_FACT_HEADER.findall(source))
    return ids


def comparable(finding, written: set[str]) -> tuple[str, tuple[str, ...]]:
    """(criterion, fact ids) with ids not written in the set replaced by ``DERIVED``."""
    ids = [i if i in written else DERIVED for i in finding.facts]
    return _finding(finding.criterion, *ids)


def _status(finding) -> str:
    return str(getattr(finding.status, "value", finding.status))


@pytest.mark.parametrize("name", sorted(SETS))
def test_set_findings(name):
    directory = SETS[name]
    report = coherence_rules.check([directory], with_=WITH.get(name, ()), as_of=AS_OF)
    written = written_ids(directory)
    actual = Counter(comparable(f, written) for f in report.findings)
    assert actual == Counter(EXPECTED[name])


@pytest.mark.parametrize("name", sorted(SETS))
def test_set_statuses(name):
    directory = SETS[name]
    report = coherence_rules.check([directory], with_=WITH.get(name, ()), as_of=AS_OF)
    written = written_ids(directory)
    expected = NOT_OPEN.get(name, {})
    for finding in report.findings:
        key = comparable(finding, written)
        assert _status(finding) == expected.get(key, "open"), key


def test_mauritius_acceptance_lapses_after_until():
    directory = SETS["mauritius"]
    written = written_ids(directory)
    on_the_day = coherence_rules.check([directory], as_of=datetime.date(2027, 6, 30))
    day_after = coherence_rules.check([directory], as_of=datetime.date(2027, 7, 1))
    key = ("MEASURE-UNFUNDED", ("NMDP.4.3",))
    assert [_status(f) for f in on_the_day.findings if comparable(f, written) == key] == ["accepted"]
    assert [_status(f) for f in day_after.findings if comparable(f, written) == key] == ["expired"]


@pytest.mark.parametrize("name", sorted(SETS))
def test_set_lints_without_errors(name):
    result = coherence_rules.lint([SETS[name]], with_=WITH.get(name, ()))
    assert list(result.errors) == []


def test_written_ids_reads_policy_files_and_markdown_blocks():
    ids = written_ids(SETS["mauritius"])
    assert {"MU", "WPR.7", "HSS.2.1", "HSS.4.2.1", "MDSC", "MOL.lead.labour_migration"} <= ids
    assert "MEASURE-UNFUNDED" not in ids  # the accept statement is not a fact
    countries = {i for i in written_ids(SETS["reference"]) if re.fullmatch(r"[A-Z]{3}", i)}
    assert len(countries) == 54  # the WHO list's; the SDG, GCM and convention facts have other ids


def test_who_list_is_generated_deterministically(tmp_path):
    """The generator gives the committed file's facts, sorted, from a table in the source's shape."""
    import importlib.util

    script = POLICIES / "reference" / "make_who_list.py"
    spec = importlib.util.spec_from_file_location("make_who_list", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = tmp_path / "ssl.csv"
    table.write_text(
        "iso3,name_as_in_source,who_region,uk_red_list_2023,on_who_ssl_2023,provenance\n"
        "ZWE,Zimbabwe,AFR,1,1,x\n"
        "BFA,Bukina Faso,AFR,1,1,x\n"
        "NPL,Nepal,SEAR,0,1 (inferred),x\n",
        encoding="utf-8",
    )
    first, second = tmp_path / "a.policy", tmp_path / "b.policy"
    assert module.main(["make_who_list.py", str(table), str(first)]) == 0
    assert module.main(["make_who_list.py", str(table), str(second)]) == 0
    text = first.read_text(encoding="utf-8")
    assert text == second.read_text(encoding="utf-8")
    facts = [line for line in text.splitlines() if line.startswith("jurisdiction ")]
    assert facts == [
        'jurisdiction BFA "Burkina Faso" { level: national  iso3: "BFA"  safeguard_list: true }',
        'jurisdiction ZWE "Zimbabwe" { level: national  iso3: "ZWE"  safeguard_list: true }',
    ]


def test_who_list_makes_who_safeguard_fire(tmp_path):
    """The shipped WHO safeguards list, loaded next to a policy set, is what WHO-SAFEGUARD reads:
    recruiting nurses from a listed country fires it; from a country not on the list, it does not."""
    policy = tmp_path / "recruitment.policy"
    policy.write_text(
        'jurisdiction GB "United Kingdom" { level: national }\n'
        'jurisdiction PHL "Philippines" { level: national  iso3: "PHL" }\n'
        'instrument NRS "International nurse recruitment scheme" { kind: programme  jurisdiction: GB }\n'
        'measure NRS.1 "Recruit nurses from Nigeria and the Philippines" {\n'
        '  instrument: NRS  area: recruitment  effect: facilitate  occupation: nurse  origin: [NGA, PHL]\n'
        '  evidence: "NHS workforce plan, vacancy statistics"\n}\n', encoding="utf-8")
    report = coherence_rules.check([POLICIES / "reference", policy], as_of=AS_OF)
    assert not report.errors, report.errors
    who = [f for f in report.findings if f.criterion == "WHO-SAFEGUARD"]
    assert [f.facts for f in who] == [["NGA", "NRS.1"]]
    assert who[0].location.file.endswith("recruitment.policy")


def test_bom_and_crlf_sources_read_like_plain_ones(tmp_path):
    plain = (SETS["mauritius"] / "instruments.policy").read_text(encoding="utf-8")
    other = tmp_path / "mauritius"
    shutil.copytree(SETS["mauritius"], other)
    (other / "instruments.policy").write_bytes(b"\xef\xbb\xbf" + plain.replace("\n", "\r\n").encode("utf-8"))
    a = coherence_rules.check([SETS["mauritius"]], as_of=AS_OF)
    b = coherence_rules.check([other], as_of=AS_OF)
    assert [(f.criterion, f.facts, f.location.line) for f in a.findings] == \
        [(f.criterion, f.facts, f.location.line) for f in b.findings]
