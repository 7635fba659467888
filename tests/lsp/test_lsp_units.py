"""The server's pure parts, in process: position conversions, the lexical cursor context, the
accept statement. The protocol itself is tested through a real client (test_lsp_server.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from coherence_rules.lsp.context import context_at, source_view  # noqa: E402
from coherence_rules.lsp.features import accept_edit, accept_statement, one_year_after  # noqa: E402
from coherence_rules.lsp.positions import UTF8, UTF16, UTF32, LineIndex, column_to_units, units_to_column  # noqa: E402


def test_columns_and_utf16_units():
    line = 'cite: "é😀x"'
    x = line.index("x")
    assert column_to_units(line, x, UTF16) == x + 1  # the emoji is two UTF-16 units
    assert column_to_units(line, x, UTF32) == x
    assert column_to_units(line, x, UTF8) == x + 1 + 3  # é is 2 bytes, the emoji 4
    for enc in (UTF8, UTF16, UTF32):
        assert units_to_column(line, column_to_units(line, x, enc), enc) == x
    # half of a surrogate pair is the emoji's start; beyond the end is the end
    emoji = line.index("😀")
    assert units_to_column(line, emoji + 1, UTF16) == emoji
    assert units_to_column(line, 10_000, UTF16) == len(line)


def test_span_ranges_follow_line_breaks_and_encodings():
    text = 'a\r\nobjective O "é😀" { ocupation: nurse }\rlast'
    idx = LineIndex(text, UTF16)
    assert idx.lines == ["a", 'objective O "é😀" { ocupation: nurse }', "last"]
    col = idx.lines[1].index("ocupation") + 1  # coherence columns: code points from 1
    (l0, c0), (l1, c1) = idx.span_range(2, col, 2, col + len("ocupation"))
    assert (l0, l1) == (1, 1)
    assert c0 == col - 1 + 1 and c1 - c0 == len("ocupation")
    assert idx.offset(*idx.position(text.index("nurse"))) == text.index("nurse")
    assert idx.end() == (2, 4)
    # an empty span still covers a character; a span past the end stays in the text
    assert idx.span_range(3, 1, 3, 1) == ((2, 0), (2, 1))
    assert idx.span_range(9, 1)[0] == idx.end()


POLICY = '''measure WPR.7 "Cap" {
  instrument: WPR
  effect: restrict
  origin: [MU, KE]
}
accept ADM-SECTOR on [HSS.2.1, WPR.7] { reason: "r" }
'''


@pytest.mark.parametrize("needle, delta, role, word, field", [
    ("instrument:", 3, "field_name", "instrument", None),
    ("WPR\n", 1, "field_value", "WPR", "instrument"),
    ("restrict", 8, "field_value", "restrict", "effect"),
    ("KE]", 1, "field_value", "KE", "origin"),
    ("ADM-SECTOR", 2, "criterion", "ADM-SECTOR", None),
    ("HSS.2.1", 4, "accept_ids", "HSS.2.1", None),
    ("measure", 2, "fact_type", "measure", None),
    ("WPR.7 \"", 2, "fact_id", "WPR.7", None),
])
def test_cursor_context(needle, delta, role, word, field):
    ctx = context_at(POLICY, "x.policy", POLICY.index(needle) + delta)
    assert (ctx.role, ctx.name, ctx.field) == (role, word, field)


def test_context_of_a_new_field_line_and_of_text_that_does_not_parse():
    text = POLICY.replace("  effect: restrict\n", "  effect: restrict\n  \n")
    ctx = context_at(text, "x.policy", text.index("  \n") + 2)
    assert ctx.role == "field_name" and ctx.type_name == "measure"
    assert set(ctx.set_fields) >= {"instrument", "effect", "origin"}
    broken = 'measure M "t" {\n  instrument: WPR\n  effect: '
    ctx = context_at(broken, "x.policy", len(broken))
    assert (ctx.role, ctx.field, ctx.type_name) == ("field_value", "effect", "measure")
    assert context_at("}}}{{[[", "x.policy", 3).role in ("other", "fact_type", "field_name")


def test_markdown_prose_is_not_read():
    md = "Text about `WPR.7`.\n\n```policy\nmeasure M \"t\" { instrument: WPR }\n```\n"
    view = source_view(md, "x.md")
    assert len(view) == len(md) and "WPR.7" not in view and "instrument: WPR" in view
    assert context_at(md, "x.md", md.index("WPR.7") + 1).word is None


def test_accept_statement_and_edit():
    assert one_year_after(dt.date(2024, 2, 29)) == dt.date(2025, 2, 28)
    s = accept_statement("ADM-SECTOR", ["HSS.2.1", "WPR.7"], dt.date(2025, 3, 1))
    assert s == ('accept ADM-SECTOR on [HSS.2.1, WPR.7] { reason: "TODO: why this trade-off is accepted"  '
                 'until: 2026-03-01 }')
    edit = accept_edit("a\n", "x.policy", "X", ["A"], dt.date(2025, 3, 1))
    assert (edit.range.start.line, edit.range.start.character) == (1, 0)
    assert edit.new_text.startswith("\naccept X on [A]")
    md = accept_edit("# Title", "x.md", "X", ["A"], dt.date(2025, 3, 1))
    assert md.new_text.startswith("\n\n```policy\naccept X on [A] {") and md.new_text.endswith("\n```\n")


def test_set_config_resolves_settings_against_their_folder(tmp_path):
    from coherence_rules.lsp.sets import set_config

    (tmp_path / "coherence.toml").write_text('ruleset = ["core", "extra"]\nwith = ["refs", "reference"]\n',
                                             encoding="utf-8")
    (tmp_path / "extra").mkdir()
    (tmp_path / "refs").mkdir()
    (tmp_path / "set").mkdir()
    config = set_config(str(tmp_path / "set"))
    assert config.rulesets == ["core", str(tmp_path / "extra")] and config.problems == []
    assert config.with_paths[0] == str(tmp_path / "refs") and config.with_paths[1].endswith("reference")
    # what the folder holds itself is not loaded a second time as a ruleset or as references
    inside = set_config(str(tmp_path / "extra"))
    assert inside.rulesets == ["core"]
    assert set_config(str(tmp_path / "refs")).with_paths == [config.with_paths[1]]
    # a settings file that cannot be used: the defaults, and a problem to show
    (tmp_path / "coherence.toml").write_text("rulesets = 3\n", encoding="utf-8")
    bad = set_config(str(tmp_path / "set"))
    assert bad.rulesets == ["core"] and bad.problems and "unknown setting" in bad.problems[0]


def test_a_folder_too_large_is_checked_alone(tmp_path, monkeypatch):
    from coherence_rules.lsp import sets

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.policy").write_text('jurisdiction MU "M" { level: national }\n', encoding="utf-8")
    (tmp_path / "sub" / "b.policy").write_text('jurisdiction KE "K" { level: national }\n', encoding="utf-8")
    (tmp_path / "notes.md").write_text("# prose only\n", encoding="utf-8")
    config = sets.set_config(str(tmp_path))
    result = sets.check_set(str(tmp_path), {}, config, sets.RulesetCache())
    assert sorted(result.texts) == [str(tmp_path / "a.policy"), str(tmp_path / "sub" / "b.policy")]
    assert result.notices == [] and not result.diagnostics
    monkeypatch.setattr(sets, "MAX_FILES", 1)
    result = sets.check_set(str(tmp_path), {}, config, sets.RulesetCache())
    assert sorted(result.texts) == [str(tmp_path / "a.policy")] and result.notices


def test_a_check_with_the_sets_memo_parses_only_the_changed_text(tmp_path):
    """The language server keeps each set's parses between its checks: a change to one open
    document parses that document alone, and the findings are those of a check from scratch."""
    import shutil

    from coherence_rules.lsp import sets
    from coherence_rules.warm import SourceMemo

    folder = tmp_path / "mauritius"
    shutil.copytree(Path(__file__).resolve().parents[2] / "policies" / "mauritius", folder)
    config = sets.set_config(str(folder))
    cache, memo = sets.RulesetCache(), SourceMemo()
    first = sets.check_set(str(folder), {}, config, cache, memo=memo)
    assert sorted(memo.reread) == sorted(first.texts)
    path = str(folder / "instruments.policy")
    edited = first.texts[path].replace("effect: restrict", "effect: facilitate", 1)
    warm = sets.check_set(str(folder), {path: (edited, 2)}, config, cache, memo=memo)
    assert memo.reread == [path]
    cold = sets.check_set(str(folder), {path: (edited, 2)}, config, sets.RulesetCache())
    assert [f.fingerprint for f in warm.findings] == [f.fingerprint for f in cold.findings]
    assert "ADM-SECTOR" in {f.criterion for f in first.findings}
    assert "ADM-SECTOR" not in {f.criterion for f in warm.findings}
