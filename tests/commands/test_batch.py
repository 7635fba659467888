"""Batch runs (coherence_rules.batch): same results as `check`, deterministic whatever the number of
jobs or the scheduler, failures isolated, a result store that skips unchanged sets."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from coherence_rules.commands.batch import BatchError, ProgressBar, Store, run_batch
import coherence_rules

POLICIES = Path(__file__).resolve().parents[2] / "policies"
EXAMPLES = ["mauritius", "kenya-ncm", "sweden", "agreements/nl-turkey-1964"]
AS_OF = dt.date(2026, 11, 23)

BROKEN = """\
jurisdiction GH "Republic of Ghana" { level: national }
instrument GH-LMP "Ghana Labour Migration Policy" { kind: policy  jurisdiction: GH }
measure GH-LMP.4 "Register of private recruitment agencies" {
  instrument: GH-LMP
  area: recruitment
  effect: require
"""

OWN_CRITERION = """\
criterion LOCAL-NURSE-CAP "A cap on foreign nurses" {
  dimension: horizontal
  score: -1
  source: "Local review checklist"
  when {
    m: measure where occupation == nurse and effect == restrict
  }
  message: "{m} caps foreign nurses"
  advice: "Review the cap against the health workforce plan."
}
"""



def example_sets() -> list[str]:
    return [Path(n).name for n in EXAMPLES]


def test_each_set_is_reported_as_check_reports_it(workdir):
    result = run_batch(example_sets(), jobs=1, as_of=AS_OF)
    assert [s["name"] for s in result.sets] == sorted(example_sets())
    for entry in result.sets:
        report = coherence_rules.check([entry["name"]], as_of=AS_OF).to_dict()
        assert entry["status"] == "ok"
        assert entry["findings"] == report["findings"]
        assert entry["summary"] == report["summary"]
        assert entry["diagnostics"] == report["diagnostics"]
        assert entry["inputs"] == report["inputs"]
    doc = result.to_dict()
    assert doc["schema"] == "coherence-batch/1"
    assert "ADM-SECTOR" in doc["criteria"] and len(doc["criteria"]) == 25
    row = next(r for r in doc["matrix"] if r["set"] == "mauritius")
    assert row["cells"]["ADM-SECTOR"] == {"count": 1, "worst": -2}
    assert row["cells"]["OBJ-NO-INDICATOR"] == {"count": 2, "worst": -1}
    assert result.exit_code() == 1 and result.exit_code(-3) == 0


def test_output_is_byte_identical_whatever_the_jobs(workdir):
    order = example_sets()
    one = run_batch(order, jobs=1, as_of=AS_OF).to_json()
    two = run_batch(list(reversed(order)) + order[:1], jobs=2, as_of=AS_OF).to_json()
    assert one == two


def test_entries_encoded_by_the_workers_make_the_same_document(workdir):
    """`encode_json` (what `batch --format json` asks): each worker writes its sets' JSON text
    and the parent joins them; the document is the same, character for character, with a failed
    set, sets reused from the store (encoded by the parent) and titles holding characters a
    terminal would act on (escaped in the joined texts too)."""
    (workdir / "ghana").mkdir()
    (workdir / "ghana" / "labour-migration.policy").write_text(BROKEN, encoding="utf-8")
    (workdir / "hostile").mkdir()
    (workdir / "hostile" / "set.policy").write_text(
        'jurisdiction HX "Hostile \u001b[2J state" { level: national }\n'
        'instrument HX-P "Policy \u2028of\u202e the state" { kind: policy  jurisdiction: HX }\n'
        'objective HX-P.1 "Reverse the brain drain \u009b[31m" {\n'
        '  instrument: HX-P  sector: development  area: return  aim: increase  target: return\n}\n',
        encoding="utf-8")
    sets = example_sets() + ["ghana", "hostile"]
    plain = run_batch(sets, jobs=2, as_of=AS_OF)
    assert not plain.encoded
    encoded = run_batch(sets, jobs=2, as_of=AS_OF, encode_json=True)
    assert sorted(encoded.encoded) == sorted(sets)
    assert encoded.to_json() == plain.to_json()
    doc = plain.to_json()
    assert "Reverse the brain drain \\u009b[31m" in doc and "\x9b" not in doc and "\u2028" not in doc
    store = workdir / "r.sqlite"
    run_batch(sets[:2], jobs=1, as_of=AS_OF, store=store)
    mixed = run_batch(sets, jobs=2, as_of=AS_OF, store=store, encode_json=True)
    assert mixed.reused == 2 and len(mixed.encoded) == len(sets) - 2
    assert mixed.to_json() == plain.to_json()
    assert run_batch(["mauritius"], jobs=1, as_of=AS_OF, encode_json=True).to_json() == \
        run_batch(["mauritius"], jobs=1, as_of=AS_OF).to_json()


def test_a_bad_set_fails_alone(workdir):
    (workdir / "ghana").mkdir()
    (workdir / "ghana" / "labour-migration.policy").write_text(BROKEN, encoding="utf-8")
    result = run_batch(["sweden", "ghana", "mauritius", "missing-set"], jobs=2, as_of=AS_OF)
    by_name = {s["name"]: s for s in result.sets}
    assert by_name["ghana"]["status"] == "failed"
    assert by_name["ghana"]["findings"] == []
    assert [d["code"] for d in by_name["ghana"]["diagnostics"]] == ["E102"]
    assert by_name["ghana"]["diagnostics"][0]["file"] == "ghana/labour-migration.policy"
    assert by_name["missing-set"]["status"] == "failed"
    assert by_name["missing-set"]["diagnostics"][0]["code"] == "E110"
    assert by_name["sweden"]["status"] == by_name["mauritius"]["status"] == "ok"
    assert len(by_name["mauritius"]["findings"]) == 10
    assert result.summary()["failed"] == 2
    assert result.exit_code() == 2


def test_a_set_with_its_own_criteria_is_compiled_for_itself(workdir):
    shutil.copytree(workdir / "mauritius", workdir / "mauritius-local")
    (workdir / "mauritius-local" / "local.rules").write_text(OWN_CRITERION, encoding="utf-8")
    result = run_batch(["mauritius", "mauritius-local", "sweden"], jobs=1, as_of=AS_OF)
    local = next(s for s in result.sets if s["name"] == "mauritius-local")
    assert [f["facts"] for f in local["findings"] if f["criterion"] == "LOCAL-NURSE-CAP"] == [["WPR.7"]]
    assert result.criteria[-1] == "LOCAL-NURSE-CAP"
    plain = next(s for s in result.sets if s["name"] == "mauritius")
    assert all(f["criterion"] != "LOCAL-NURSE-CAP" for f in plain["findings"])
    assert local["findings"] == coherence_rules.check(["mauritius-local"], as_of=AS_OF).to_dict()["findings"]


def test_store_skips_unchanged_sets_and_recomputes_edited_ones(workdir):
    store = workdir / "results.sqlite"
    first = run_batch(example_sets(), jobs=2, store=store, as_of=AS_OF)
    assert (first.computed, first.reused) == (4, 0)
    again = run_batch(example_sets(), jobs=2, store=store, as_of=AS_OF)
    assert (again.computed, again.reused) == (0, 4)
    assert again.to_json() == first.to_json()

    # an edit to one set's input: only that set runs again, and it replaces its stored row
    f = workdir / "mauritius" / "instruments.policy"
    f.write_text(f.read_text(encoding="utf-8").replace("effect: restrict\n  occupation: nurse",
                                                       "effect: facilitate\n  occupation: nurse"), encoding="utf-8")
    edited = run_batch(example_sets(), jobs=2, store=store, as_of=AS_OF)
    assert (edited.computed, edited.reused) == (1, 3)
    mauritius = next(s for s in edited.sets if s["name"] == "mauritius")
    assert "ADM-SECTOR" not in {x["criterion"] for x in mauritius["findings"]}
    db = sqlite3.connect(store)
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT name) FROM results").fetchone() == (4, 4)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()

    # another reference date or another ruleset is another key
    later = run_batch(example_sets(), jobs=1, store=store, as_of=dt.date(2027, 1, 1))
    assert later.computed == 4


def test_failed_sets_are_stored_and_reported_from_the_store(workdir):
    (workdir / "ghana").mkdir()
    (workdir / "ghana" / "labour-migration.policy").write_text(BROKEN, encoding="utf-8")
    store = workdir / "s.sqlite"
    a = run_batch(["ghana", "sweden"], jobs=1, store=store, as_of=AS_OF)
    b = run_batch(["ghana", "sweden"], jobs=1, store=store, as_of=AS_OF)
    assert b.reused == 2 and a.to_json() == b.to_json()


def test_a_file_that_is_not_a_store_is_refused(workdir):
    bad = workdir / "notes.sqlite"
    bad.write_text("not a database, just notes\n" * 100)
    with pytest.raises(BatchError, match="not a usable result store"):
        run_batch(["sweden"], jobs=1, store=bad, as_of=AS_OF)


def test_bad_rulesets_stop_the_batch_before_it_starts(workdir):
    with pytest.raises(BatchError) as e:
        run_batch(["sweden"], rulesets=["no-such-ruleset"], jobs=1, as_of=AS_OF)
    assert [d.code for d in e.value.diagnostics] == ["E213"]


def test_progress_bar_draws_only_when_enabled():
    out = io.StringIO()
    bar = ProgressBar(out, enabled=True, interval=0)
    bar.start(4, reused=1, findings=2)
    bar.update({"status": "ok", "findings": [{}, {}, {}]})
    bar.update({"status": "failed", "findings": []})
    bar.finish()
    text = out.getvalue()
    assert text.count("\r") >= 3 and text.endswith("\n")
    assert "3/4 sets, 5 findings, 1 failed" in text and "sets/s" in text and "left" in text
    quiet = io.StringIO()  # not a terminal: nothing unless asked for
    bar = ProgressBar(quiet)
    bar.start(2)
    bar.update({"status": "ok", "findings": []})
    bar.finish()
    assert quiet.getvalue() == ""


def test_progress_is_reported_for_each_set(workdir):
    out = io.StringIO()
    bar = ProgressBar(out, enabled=True, interval=0)
    run_batch(example_sets(), jobs=2, as_of=AS_OF, progress=bar)
    assert bar.done == 4 and bar.findings == 16
    assert "4/4 sets, 16 findings" in out.getvalue()


def test_dask_local_cluster_gives_the_process_pool_results(workdir):
    pytest.importorskip("distributed")
    (workdir / "ghana").mkdir()
    (workdir / "ghana" / "labour-migration.policy").write_text(BROKEN, encoding="utf-8")
    sets = example_sets() + ["ghana"]
    pool = run_batch(sets, jobs=2, as_of=AS_OF)
    dask = run_batch(sets, jobs=2, scheduler="local", as_of=AS_OF, store=workdir / "d.sqlite")
    assert dask.to_json() == pool.to_json()
    assert dask.computed == 5


def test_missing_dask_is_a_clear_error(workdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(BatchError, match=r"pip install 'coherence-rules\[dask\]'"):
        run_batch(["sweden"], scheduler="local", as_of=AS_OF)


def test_store_keys_commit_one_row_per_set(tmp_path):
    s = Store(tmp_path / "s.sqlite")
    entry = {"name": "x", "status": "ok", "findings": []}
    s.put("x", "i1", "r", "2026-11-23", entry)
    s.put("x", "i1", "r", "2026-11-23", entry)  # a repeat never doubles
    assert s.count() == 1
    assert s.get("x", "i1", "r", "2026-11-23") == entry
    assert s.get("x", "i2", "r", "2026-11-23") is None
    s.close()


@pytest.mark.parametrize("error, message, transient", [
    (RuntimeError("boom"), "checking this set failed: RuntimeError: boom", True),
    (RecursionError(), "the input nests too deeply to analyse", False),
])
def test_a_set_whose_check_stops_is_a_failed_entry(monkeypatch, tmp_path, error, message, transient):
    """One set's unexpected failure becomes that set's E502 entry; an unexpected one is not kept in
    the store (a rerun tries it again)."""
    import coherence_rules.commands.batch as batch

    def stop(*args, **kwargs):
        raise error

    monkeypatch.setattr(batch, "check_set", stop)
    entry = batch.check_set_task({"name": "gh", "path": str(tmp_path), "rulesets": None,
                                  "as_of": AS_OF.isoformat(), "cwd": str(tmp_path)})
    assert entry["status"] == "failed" and entry["findings"] == []
    (diag,) = entry["diagnostics"]
    assert diag["code"] == "E502" and diag["message"] == message
    assert bool(diag["help"]) is transient
    assert entry.get("_transient", False) is transient
