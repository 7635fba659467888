"""The check cache: a policy file unchanged since a clean run is not parsed again, and a run that
uses its stored records answers exactly as a run without the cache, findings, diagnostics and
spans alike, whatever changed around it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coherence_rules.syntax import ast as A
from coherence_rules.session import Session
from coherence_rules.sources.cache import CachedModule
from coherence_rules.syntax.parser import parse_source

AS_OF = dt.date(2026, 1, 1)
POLICIES = Path(__file__).resolve().parents[2] / "policies"

INSTITUTIONS = """\
jurisdiction MU "Republic of Mauritius" { level: national  iso3: "MUS" }
actor MOH "Ministry of Health and Wellness" { kind: ministry  jurisdiction: MU }
actor MOL "Ministry of Labour" { kind: ministry  jurisdiction: MU }
"""

INSTRUMENTS = """\
instrument HSP "Health Sector Strategic Plan 2020-2024" { kind: plan  jurisdiction: MU  owner: MOH }
objective HSP.NURSES "Train and retain more nurses" {
  instrument: HSP  sector: health  aim: increase  target: workforce  occupation: nurse
  cite: "Health Sector Strategic Plan 2020-2024, s. 5.3"
}
instrument WPR "Work permit rules" { kind: regulation  jurisdiction: MU  owner: MOL }
measure WPR.CAP "Cap on work permits for foreign nurses" {
  instrument: WPR  area: labour_migration  effect: restrict  occupation: nurse  delivered_by: MOL
  cite: "Work permit rules, reg. 4"
}
"""

STAFFING = """\
ruleset staffing "Staffing units and posts" { version: "1" }
type unit "A health unit" { sector: sector?  jurisdiction: ref jurisdiction }
type post "A post in a unit" { unit: ref unit  sector: sector  inherit sector from unit }
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("COHERENCE_NO_CACHE", raising=False)
    return tmp_path / "cache" / "coherence" / "parse"


def _entries(d: Path) -> list[Path]:
    return sorted(d.glob("*.facts")) if d.exists() else []


def _report(paths, rulesets=None, *, cached: bool) -> str:
    """The JSON report of a check, with or without the caches (the answer must not differ)."""
    saved = os.environ.get("COHERENCE_NO_CACHE")
    if cached:
        os.environ.pop("COHERENCE_NO_CACHE", None)
    else:
        os.environ["COHERENCE_NO_CACHE"] = "1"
    try:
        return Session([str(p) for p in paths], rulesets=rulesets, as_of=AS_OF).report.to_json()
    finally:
        if saved is None:
            os.environ.pop("COHERENCE_NO_CACHE", None)
        else:
            os.environ["COHERENCE_NO_CACHE"] = saved


def _modules(paths, rulesets=None):
    return Session([str(p) for p in paths], rulesets=rulesets).workspace.policy_modules


def _write(d: Path, **files: str) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / f"{name}.policy").write_text(text, encoding="utf-8")
    return [d]


def test_unchanged_files_are_restored_without_building_a_tree(home, tmp_path):
    paths = _write(tmp_path / "set", institutions=INSTITUTIONS, instruments=INSTRUMENTS)
    first = _report(paths, cached=True)
    assert len(_entries(home)) == 2
    modules = _modules(paths)
    assert all(isinstance(m, CachedModule) and m.records is not None and m._items is None for m in modules)
    assert _report(paths, cached=True) == first == _report(paths, cached=False)
    assert "LABOUR-NO-EVIDENCE" in {f["criterion"] for f in json.loads(first)["findings"]}
    assert all(m._items is None for m in modules)  # checking used the records, not the tree


def _diagnostics(report: str) -> set[tuple[str, str]]:
    return {(d["code"], Path(d["file"]).name) for d in json.loads(report)["diagnostics"]}


def test_a_restored_module_reads_as_the_parsed_one(home, tmp_path):
    paths = _write(tmp_path / "set", institutions=INSTITUTIONS, instruments=INSTRUMENTS)
    _report(paths, cached=True)
    for m in _modules(paths):
        fresh, diags = parse_source(Path(m.file).read_text(encoding="utf-8"), m.file)
        assert not diags
        assert A.to_data(m) == A.to_data(fresh)  # builds the tree on first use
        assert m.comments == fresh.comments


@pytest.mark.parametrize("example", ["mauritius", "kenya-ncm", "sweden", "agreements/nl-turkey-1964"])
def test_shipped_examples_answer_the_same_from_the_cache(home, example):
    paths = [POLICIES / example]
    first = _report(paths, cached=True)
    assert _report(paths, cached=True) == first == _report(paths, cached=False)
    assert any(isinstance(m, CachedModule) and m.records is not None for m in _modules(paths))


# ---- a change elsewhere makes a stored record part of a diagnostic: the diagnostic must point into
# ---- the unchanged file exactly as without the cache

CHANGES = {
    # a fact of the changed file takes an id the unchanged file defines (E201 at the later one)
    "duplicate id, changed file later": (
        "zz", 'actor MOH "Ministry of Health, again" { kind: agency  jurisdiction: MU }\n', ("E201", "zz.policy")),
    # ... and the unchanged file's fact is now the second definition
    "duplicate id, changed file first": (
        "aa", 'instrument WPR "Old rules" { kind: law }\n', ("E201", "instruments.policy")),
    # the unchanged file refers to a fact that is gone (E203) or is now of another type (E204)
    "reference gone": (
        "institutions", INSTITUTIONS.replace('actor MOL "Ministry of Labour" { kind: ministry  jurisdiction: MU }\n', ""),
        ("E203", "instruments.policy")),
    "reference to another type": (
        "institutions", INSTITUTIONS.replace('actor MOL "Ministry of Labour" { kind: ministry  jurisdiction: MU }',
                                             'jurisdiction MOL "Not an actor" { level: local }'),
        ("E204", "instruments.policy")),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_diagnostics_about_unchanged_files_point_into_them(home, tmp_path, change):
    paths = _write(tmp_path / "set", institutions=INSTITUTIONS, instruments=INSTRUMENTS)
    _report(paths, cached=True)
    name, text, expected = CHANGES[change]
    _write(tmp_path / "set", **{name: text})
    (restored,) = [m for m in _modules(paths) if m.file.endswith("instruments.policy")]
    assert restored.records is not None and restored._items is None
    with_cache = _report(paths, cached=True)
    assert with_cache == _report(paths, cached=False)
    assert expected in _diagnostics(with_cache)


def test_missing_inherited_required_field_points_into_the_unchanged_file(home, tmp_path):
    rules = tmp_path / "staffing.rules"
    rules.write_text(STAFFING, encoding="utf-8")
    units = 'jurisdiction MU "Mauritius" { level: national }\nunit ICU "Intensive care" { sector: health  jurisdiction: MU }\n'
    posts = 'post ICU.N1 "Intensive care nurse" { unit: ICU }\n'
    paths = _write(tmp_path / "set", units=units, posts=posts)
    rulesets = ["core", str(rules)]
    assert '"diagnostics": []' in _report(paths, rulesets, cached=True)
    _write(tmp_path / "set", units=units.replace("sector: health  ", ""))
    with_cache = _report(paths, rulesets, cached=True)
    assert with_cache == _report(paths, rulesets, cached=False)
    assert ("E303", "posts.policy") in _diagnostics(with_cache)


def test_a_changed_vocabulary_checks_the_tree_again(home, tmp_path):
    """Records are stored with the vocabulary they were checked against. Under another vocabulary
    the tree is checked: the answer is the one without the cache, and the records are stored again."""
    rules = tmp_path / "staffing.rules"
    rules.write_text(STAFFING, encoding="utf-8")
    units = 'jurisdiction MU "Mauritius" { level: national }\nunit ICU "Intensive care" { sector: health  jurisdiction: MU }\n'
    paths = _write(tmp_path / "set", units=units)
    with_staffing = ["core", str(rules)]
    assert json.loads(_report(paths, with_staffing, cached=True))["diagnostics"] == []
    stored = _modules(paths, with_staffing)[0].schema
    # without the ruleset that declares `unit`, the unchanged file no longer checks
    without = _report(paths, ["core"], cached=True)
    assert without == _report(paths, ["core"], cached=False)
    assert ("E202", "units.policy") in _diagnostics(without)
    # a vocabulary that only grows: checked again, clean, and stored for it
    (tmp_path / "more.rules").write_text('ruleset more "More" { version: "1" }\n'
                                         'type dossier "A file" { unit: ref unit }\n', encoding="utf-8")
    wider = with_staffing + [str(tmp_path / "more.rules")]
    assert _report(paths, wider, cached=True) == _report(paths, wider, cached=False)
    (module,) = _modules(paths, wider)
    assert module.records is not None and module.schema != stored


def test_files_with_diagnostics_are_not_stored(home, tmp_path):
    paths = _write(tmp_path / "set", institutions=INSTITUTIONS,
                   instruments=INSTRUMENTS.replace("effect: restrict", "effect: limit"))
    report = _report(paths, cached=True)
    assert ("E301", "instruments.policy") in _diagnostics(report)
    assert _entries(home) == []
    assert _report(paths, cached=True) == report == _report(paths, cached=False)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "empty"])
def test_a_damaged_entry_is_a_miss_and_is_removed(home, tmp_path, damage):
    paths = _write(tmp_path / "set", institutions=INSTITUTIONS + INSTRUMENTS)
    first = _report(paths, cached=True)
    (entry,) = _entries(home)
    data = entry.read_bytes()
    entry.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(300),
                       "flip": data[:-5] + bytes([data[-5] ^ 1]) + data[-4:], "empty": b""}[damage])
    (module,) = _modules(paths)
    assert module.records is None and module._items is not None  # parsed again
    assert not entry.exists()
    assert _report(paths, cached=True) == first
    assert len(_entries(home)) == 1  # and stored again


def test_disabled_by_environment(home, tmp_path, monkeypatch):
    paths = _write(tmp_path / "set", institutions=INSTITUTIONS)
    monkeypatch.setenv("COHERENCE_NO_CACHE", "1")
    Session([str(p) for p in paths], as_of=AS_OF).report
    assert _entries(home) == []
    assert not any(isinstance(m, CachedModule) for m in _modules(paths))


def test_moved_file_is_a_miss(home, tmp_path):
    paths = _write(tmp_path / "set", institutions=INSTITUTIONS)
    _report(paths, cached=True)
    moved = tmp_path / "elsewhere"
    shutil.copytree(paths[0], moved)
    (module,) = _modules([moved])
    assert module.records is None  # spans would name the old path


# ---- property: any edit of one file of a set, cached == uncached ----------------------------------------

IDS = ["MU", "MOH", "MOL", "HSP", "WPR", "X1"]
FACT_LINES = st.sampled_from([
    'jurisdiction {id} "J" {{ level: national }}',
    'actor {id} "A" {{ kind: ministry  jurisdiction: {ref} }}',
    'instrument {id} "I" {{ kind: plan  jurisdiction: {ref}  owner: {ref2} }}',
    'measure {id} "M" {{ instrument: {ref}  area: admission  effect: restrict  delivered_by: {ref2} }}',
    'objective {id} "O" {{ instrument: {ref}  aim: increase  occupation: nurse }}',
])


@st.composite
def policy_file(draw):
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        template = draw(FACT_LINES)
        lines.append(template.format(id=draw(st.sampled_from(IDS)), ref=draw(st.sampled_from(IDS)),
                                     ref2=draw(st.sampled_from(IDS))))
    return "\n".join(lines) + "\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=policy_file(), b=policy_file(), b2=policy_file())
def test_any_edit_answers_as_without_the_cache(tmp_path_factory, a, b, b2):
    root = tmp_path_factory.mktemp("prop")
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(root / "cache")
    try:
        paths = _write(root / "set", a=INSTITUTIONS + a, b=b)
        assert _report(paths, cached=True) == _report(paths, cached=False)
        _write(root / "set", b=b2)  # a is unchanged: restored if its first check was clean
        assert _report(paths, cached=True) == _report(paths, cached=False)
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved
