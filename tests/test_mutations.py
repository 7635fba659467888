"""Mutated versions of the shipped files (policies, rulesets, Markdown texts) never produce a
traceback anywhere in the front end: parse, check and fmt return diagnostics or results."""

from __future__ import annotations

import random
from pathlib import Path

from coherence_rules.checker import check
from coherence_rules.syntax.fmt_files import format_file_text
from coherence_rules.session import Session
from coherence_rules.sources.loader import Loaded, load_text

from tests.mutation import mutate

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for pattern in ("policies/**/*.policy", "policies/**/*.md", "rulesets/*.rules", "bench/rules.rules")
                 for p in ROOT.glob(pattern) if p.name != "README.md")
def test_shipped_files_are_there():
    names = {p.name for p in SHIPPED}
    assert {"core.rules", "schema.rules", "agreement.md", "who-ssl-2023.policy"} <= names


def test_mutated_shipped_files_never_raise():
    schema = Session(rulesets=[]).workspace  # the built-in schema only
    rng = random.Random(1964)
    texts = {p: p.read_text(encoding="utf-8") for p in SHIPPED}
    small = [p for p in SHIPPED if len(texts[p]) < 20_000]
    large = [p for p in SHIPPED if len(texts[p]) >= 20_000]
    errors = clean = 0
    for n in range(800):
        path = rng.choice(large) if large and n % 12 == 0 else rng.choice(small)
        mutant = mutate(rng, texts[path])
        shown = f"mutant{path.suffix}"
        loaded = Loaded()
        load_text(mutant, shown, True, loaded)           # parse (Markdown blocks, fast path or Lark)
        program = check(schema.rule_modules + loaded.modules)  # names, references, schema, rules
        formatted, _ = format_file_text(mutant, shown)   # fmt: a result or diagnostics
        if loaded.diagnostics or program.errors:
            errors += 1
        else:
            clean += 1
            assert formatted is not None
    # the mutations exercise both sides: many mutants break, some stay valid
    assert errors > 200 and clean > 30, (errors, clean)
