"""The shipped reference facts (policies/reference): the SDG targets and GCM objectives generated
from the real data, and the international conventions as obligations."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from coherence_rules.session import Session, lint

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "policies" / "reference"
REAL = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def facts():
    s = Session([REFERENCE])
    assert not lint(s).diagnostics
    return s.program.facts


def test_sdg_targets_and_gcm_objectives(facts):
    targets = [f for f in facts if f.type == "sdg_target"]
    per_goal = {}
    for t in targets:
        assert re.fullmatch(r"SDG-\d{1,2}\.[0-9a-z]+", t.id) and t.id.split("-")[1].split(".")[0] == str(t.values["goal"])
        assert t.values["text"] and t.title and len(t.title) <= 90
        per_goal[t.values["goal"]] = per_goal.get(t.values["goal"], 0) + 1
    # the 169 targets of A/RES/70/1, per goal
    assert per_goal == {1: 7, 2: 8, 3: 13, 4: 10, 5: 9, 6: 8, 7: 5, 8: 12, 9: 8, 10: 10, 11: 10, 12: 11, 13: 5,
                        14: 10, 15: 12, 16: 12, 17: 19}
    assert next(t for t in targets if t.id == "SDG-10.7").values["text"].startswith("Facilitate orderly, safe")
    objectives = sorted((f for f in facts if f.type == "gcm_objective"), key=lambda f: f.values["number"])
    assert [o.values["number"] for o in objectives] == list(range(1, 24))
    assert [o.id for o in objectives] == [f"GCM-{n}" for n in range(1, 24)]
    assert objectives[5].title.startswith("Facilitate fair and ethical recruitment")


@pytest.mark.skipif(not REAL.is_dir(), reason="the real data (../shared/data/real) is not here")
def test_frameworks_are_generated_from_the_data(tmp_path):
    script = REFERENCE / "frameworks" / "make_frameworks.py"
    for out in ("a", "b"):
        proc = subprocess.run([sys.executable, str(script), "--data", str(REAL), "--out", str(tmp_path / out)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    for name in ("sdg-targets.policy", "gcm-objectives.policy"):
        made = (tmp_path / "a" / name).read_bytes()
        assert made == (tmp_path / "b" / name).read_bytes()
        assert made == (REFERENCE / "frameworks" / name).read_bytes(), f"{name} is not what the script makes"


def test_convention_obligations(facts):
    obligations = [f for f in facts if f.type == "obligation"]
    conventions = {o.values["convention"] for o in obligations}
    assert conventions == {"ILO C97", "ILO C181", "European Convention on the Legal Status of Migrant Workers"}
    for o in obligations:
        assert o.values.get("article") and o.values.get("cite") and o.values.get("text"), o.id
        assert re.fullmatch(r"[a-z][a-z0-9_]*", o.values["forbids"]), o.id  # a position
    c181 = next(o for o in obligations if o.id == "ILO-C181.A7.recruitment_costs")
    assert c181.values["forbids"] == "worker_pays"


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text).replace("*", "")).strip()


@pytest.mark.skipif(not REAL.is_dir(), reason="the real data (../shared/data/real) is not here")
def test_convention_texts_are_the_sources(facts):
    sources = {
        "ILO C97": REAL / "conventions" / "ilo-c097-migration-for-employment-1949.md",
        "ILO C181": REAL / "conventions" / "ilo-c181-private-employment-agencies-1997.md",
        "European Convention on the Legal Status of Migrant Workers":
            REAL / "conventions" / "coe-european-convention-legal-status-migrant-workers-1977.md",
    }
    texts = {k: _normal(p.read_text(encoding="utf-8")) for k, p in sources.items()}
    missing = []
    for o in (f for f in facts if f.type == "obligation"):
        for piece in re.split(r"\[\.\.\.\]|\[…\]|\.\.\.|…", o.values["text"]):
            piece = _normal(piece)
            if piece and piece not in texts[o.values["convention"]]:
                missing.append((o.id, piece[:80]))
    assert not missing, missing[:5]
