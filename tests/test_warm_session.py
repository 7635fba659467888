"""Warm re-checks (:class:`~coherence_rules.session.WarmSession`) and the check of a set on the
rulesets' criteria and rules as checked once (``Session.share_checked_rules``): both give exactly
what a cold :class:`~coherence_rules.session.Session` gives on the same files."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from coherence_rules.session import Rulesets, Session
from coherence_rules.warm import WarmSession

POLICIES = Path(__file__).resolve().parent.parent / "policies"
AS_OF = dt.date(2026, 11, 23)


def _sets() -> list[str]:
    out = [p.name for p in sorted(POLICIES.iterdir()) if p.is_dir() and p.name not in ("agreements", "reference")]
    out += [f"agreements/{p.name}" for p in sorted((POLICIES / "agreements").iterdir()) if p.is_dir()]
    return out


def _cold(paths, rules=None, **kw) -> Session:
    s = Session(paths, rules=rules, as_of=AS_OF, format="json", **kw)
    s.run_until("findings")
    return s


def _same(a: Session, b: Session) -> None:
    assert a.render(format="json") == b.render(format="json")
    assert [d.to_dict() if hasattr(d, "to_dict") else repr(d) for d in a.diagnostics] == \
           [d.to_dict() if hasattr(d, "to_dict") else repr(d) for d in b.diagnostics]
    assert a.stopped == b.stopped


@pytest.fixture(scope="module")
def rules():
    return Rulesets(None)


@pytest.mark.parametrize("name", _sets())
def test_a_set_checked_on_shared_rules_is_checked_as_alone(name, rules, monkeypatch):
    monkeypatch.chdir(POLICIES)
    with_paths = ["reference"] if name.startswith("agreements") else []
    plain = _cold([name], rules=rules, with_paths=with_paths)
    shared = Session([name], rules=rules, as_of=AS_OF, format="json", with_paths=with_paths)
    shared.share_checked_rules = True
    shared.run_until("findings")
    _same(shared, plain)
    if "check" in plain.products:
        p, q = plain.program, shared.program
        assert [c.code for c in p.criteria] == [c.code for c in q.criteria]
        assert [r.name for r in p.rules] == [r.name for r in q.rules]
        assert [(a.criterion, a.ids, a.reason, a.until) for a in p.accepts] == \
               [(a.criterion, a.ids, a.reason, a.until) for a in q.accepts]
        assert [(f.id, f.type, f.values) for f in p.facts] == [(f.id, f.type, f.values) for f in q.facts]


@pytest.fixture
def mauritius(tmp_path, monkeypatch):
    shutil.copytree(POLICIES / "mauritius", tmp_path / "mauritius")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "mauritius"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    st = os.stat(path)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    # a different stamp even on a coarse clock
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_warm_rechecks_follow_edits_and_read_only_what_changed(mauritius, rules):
    warm = WarmSession(["mauritius"], rules=rules, as_of=AS_OF, format="json")
    first = warm.check()
    _same(first, _cold(["mauritius"], rules=rules))
    assert len(warm.reread) == len(first.workspace.inputs) >= 2

    again = warm.check()
    assert warm.reread == []
    _same(again, first)

    facts = mauritius / "institutions.policy"
    text = facts.read_text(encoding="utf-8")
    # an edit of one fact: only that file is read again
    field = next(line for line in text.splitlines() if line.strip().startswith("title:") or '"' in line)
    _edit(facts, field, field.replace('"', '"Edited ', 1) if '"' in field else field)
    edited = warm.check()
    assert warm.reread == ["mauritius/institutions.policy"]
    _same(edited, _cold(["mauritius"], rules=rules))

    # an error, then its repair
    _edit(facts, text.rstrip("\n").splitlines()[-1], text.rstrip("\n").splitlines()[-1] + "\nmeasure {{{ oops")
    broken = warm.check()
    assert broken.errors
    _same(broken, _cold(["mauritius"], rules=rules))
    facts.write_text(text, encoding="utf-8")
    repaired = warm.check(changed=[facts])
    _same(repaired, _cold(["mauritius"], rules=rules))
    _same(repaired, first)


def test_warm_rechecks_see_files_added_and_removed(mauritius, rules):
    warm = WarmSession(["mauritius"], rules=rules, as_of=AS_OF, format="json")
    warm.check()
    extra = mauritius / "extra.policy"
    extra.write_text('objective OBJ-WARM "An objective added while warm" {\n  area: health\n}\n', encoding="utf-8")
    added = warm.check()
    assert warm.reread == ["mauritius/extra.policy"]
    _same(added, _cold(["mauritius"], rules=rules))
    extra.unlink()
    removed = warm.check()
    assert warm.reread == []
    _same(removed, _cold(["mauritius"], rules=rules))


def test_a_bad_accept_is_reported_as_a_cold_check_reports_it(mauritius, rules):
    warm = WarmSession(["mauritius"], rules=rules, as_of=AS_OF, format="json")
    warm.check()
    (mauritius / "accepts.policy").write_text(
        'accept NO-SUCH-CRITERION on [NO-SUCH-FACT] {\n  reason: "testing"\n}\n', encoding="utf-8")
    bad = warm.check()
    cold = _cold(["mauritius"], rules=rules)
    assert {d.code for d in cold.errors} & {"E211", "E203"}
    _same(bad, cold)
