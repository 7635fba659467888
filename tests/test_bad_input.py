"""Bad input never crashes, never hangs and never changes the user's files.

Every case runs through both `coherence lint` and `coherence check` and must produce a diagnostic
with its code and location (``file:line:column``) and exit 2, without a traceback (exit 3 is an
internal error). Inputs are written into a temporary directory that is the working directory, so
locations are relative. Cases that touch the file system in unusual ways (FIFOs) run in a
subprocess with a timeout, so a regression shows as a failure instead of a stuck test run.

Decisions recorded here:

- an 8 MB string literal is an ordinary title: it parses, and the file checks cleanly;
- 20,000 levels of redundant parentheses parse (parentheses alone build no nesting);
- a directory named ``x.policy`` is a directory: it is searched like any other;
- a path that names no source (a directory holding no `.policy`, `.rules`, `.md` or `.csv`
  file) is not an error: exit 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main

COMMANDS = ["lint", "check"]

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"


def criterion(condition: str = "aim == increase and target == workforce",
              message: str = "{o} aims to expand the {o.occupation} workforce") -> str:
    """A ruleset with one criterion; the condition is on line 8, the message on line 10."""
    return f'''ruleset workforce "Workforce criteria" {{ version: "0.1" }}

criterion WORKFORCE-GOAL "A sectoral objective to expand a workforce" {{
  dimension: horizontal
  score: 1
  source: "MIEUX factsheet: migration and sectoral workforce priorities"
  when {{
    o: objective where {condition}
  }}
  message: "{message}"
  advice: "Check the admission rules for that occupation."
}}
'''


# name: (files, code, location in the output, text that must also appear or None)
CASES: dict[str, tuple[dict[str, bytes], str, str, str | None]] = {
    "invalid-utf8": (
        {"permits.policy": b'# Latin-1 export\njurisdiction MU "R\xe9publique de Maurice" { level: national }\n'},
        "E111", "permits.policy:2:19", "byte 0xe9"),
    "png-renamed": ({"scan.policy": PNG}, "E112", "scan.policy:3:1", None),
    "empty-file": ({"work-permits.policy": b""}, "E114", "work-permits.policy:1:1", None),
    "comments-only": (
        {"work-permits.policy": b"# Work permit regulations: to be encoded\n# after Cabinet decision 2019/41.\n"},
        "E114", "work-permits.policy:1:1", "only comments"),
    "list-nested-20000": (
        {"origin.policy": ("measure M { origin: " + "[" * 20000 + "]" * 20000 + " }\n").encode()},
        "E108", "origin.policy:1:22", None),
    "not-nested-20000": (
        {"deep.rules": criterion("not " * 20000 + "aim == increase").encode()},
        "E116", "deep.rules:8:", "more than 100 levels"),
    "or-nested-101": (
        {"deep.rules": criterion("(occupation == nurse or " * 101 + "occupation == midwife" + ")" * 101).encode()},
        "E116", "deep.rules:8:25", "more than 100 levels"),
    "template-attribute": (
        {"template.rules": criterion(message="{o.__class__} aims to expand the workforce").encode()},
        "E210", "template.rules:10:13", "'{o.__class__}' is not a template field"),
    "template-conversion": (
        {"template.rules": criterion(message="{o.aim!r} is the aim of {o}").encode()},
        "E210", "template.rules:10:13", "'{o.aim!r}' is not a template field"),
    "template-format-spec": (
        {"template.rules": criterion(message="{o.aim:>10} is the aim of {o}").encode()},
        "E210", "template.rules:10:13", "'{o.aim:>10}' is not a template field"),
    "unknown-field": (
        {"plan.policy": b'jurisdiction MU "Republic of Mauritius" { level: national }\n'
                        b'instrument HSS "Health Sector Strategic Plan" { kind: strategy  jurisdicton: MU }\n'},
        "E302", "plan.policy:2:65", "did you mean 'jurisdiction'?"),
    "csv-header": (
        {"inventory.csv": b"type;id;title;kind\nactor;MOH;Ministry of Health and Wellness;ministry\n"},
        "E115", "inventory.csv:1:1", "header must start with `type,id`"),
    "markdown-unterminated-fence": (
        {"health-strategy.md": b"# 4.3 Health workforce\n\nThe Government will expand the nursing workforce.\n\n"
                               b"```policy\njurisdiction MU \"Republic of Mauritius\" { level: national }\n\n"
                               b"The rest of the chapter was pasted here.\n"},
        "E100", "health-strategy.md:8:10", None),
    "regex": (
        {"cite.rules": criterion('cite matches "("', "{o} cites {o.cite}").encode()},
        "E214", "cite.rules:8:37", "invalid regular expression"),
}


def _invoke(args: list[str], env: dict[str, str] | None = None) -> tuple[str, int]:
    result = CliRunner().invoke(main, args, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"coherence {' '.join(args)} raised {result.exception!r}") from result.exception
    return result.output, result.exit_code


def _assert_clean(output: str, exit_code: int) -> None:
    assert "Traceback" not in output, output
    assert "internal error" not in output, output
    assert exit_code != 3, output


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, command, tmp_path, monkeypatch):
    files, code, location, text = CASES[case]
    _write(tmp_path, files)
    before = _snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    output, exit_code = _invoke([command, *files])
    _assert_clean(output, exit_code)
    assert f"error[{code}]" in output, output[:2000]
    assert f"--> {location}" in output, output[:2000]
    if text:
        assert text in output, output[:2000]
    assert exit_code == 2, output[:2000]
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_eight_megabyte_title_parses(command, tmp_path, monkeypatch):
    """A huge string literal is no special case: the fact loads and the file checks cleanly."""
    title = ("Republic of Mauritius " * 400_000).strip()
    assert len(title) > 8_000_000
    path = tmp_path / "mu.policy"
    path.write_text(f'jurisdiction MU "{title}" {{ level: national }}\n', encoding="utf-8")
    before = _snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    output, exit_code = _invoke([command, "mu.policy"])
    _assert_clean(output, exit_code)
    assert exit_code == 0, output[:2000]
    assert "error" not in output
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_fifty_megabyte_file_is_refused_unread(command, tmp_path, monkeypatch):
    path = tmp_path / "inventory.policy"
    line = b'jurisdiction MU "Republic of Mauritius" { level: national }\n'
    with path.open("wb") as f:
        f.write(line * (50 * 1024 * 1024 // len(line) + 1))
    assert path.stat().st_size > 50 * 1024 * 1024
    before = path.stat().st_mtime_ns
    monkeypatch.chdir(tmp_path)
    output, exit_code = _invoke([command, "inventory.policy"])
    _assert_clean(output, exit_code)
    assert "error[E113]: file is too large (50.0 MiB; the limit is 32 MiB)" in output
    assert "--> inventory.policy:1:1" in output
    assert exit_code == 2
    assert path.stat().st_mtime_ns == before


@pytest.mark.parametrize("command", COMMANDS)
def test_deep_redundant_parentheses_parse(command, tmp_path, monkeypatch):
    """Parentheses alone build no nesting, so 20,000 of them around one comparison are harmless."""
    (tmp_path / "deep.rules").write_text(criterion("(" * 20000 + "aim == increase" + ")" * 20000), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    output, exit_code = _invoke([command, "deep.rules"])
    _assert_clean(output, exit_code)
    assert exit_code == 0, output[:2000]


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_ruleset(command, tmp_path, monkeypatch):
    (tmp_path / "mu.policy").write_text('jurisdiction MU "Republic of Mauritius" { level: national }\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    output, exit_code = _invoke([command, "--ruleset", "migration-core.rules", "mu.policy"])
    _assert_clean(output, exit_code)
    assert "error[E213]: unknown ruleset 'migration-core.rules'" in output
    assert "built-in rulesets: core" in output
    assert exit_code == 2


@pytest.mark.parametrize("command", COMMANDS)
def test_directory_without_sources(command, tmp_path, monkeypatch):
    (tmp_path / "drafts").mkdir()
    (tmp_path / "drafts" / "minutes.txt").write_text("Minutes of the stakeholder workshop, Port Louis.\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    output, exit_code = _invoke([command, "drafts"])
    _assert_clean(output, exit_code)
    assert exit_code == 0, output


def test_directory_without_sources_says_so(tmp_path, monkeypatch):
    (tmp_path / "drafts").mkdir()
    monkeypatch.chdir(tmp_path)
    output, exit_code = _invoke(["lint", "drafts"])
    assert "no problems found" not in output
    assert "source" in output or "no file" in output or "no .policy" in output, output


@pytest.mark.parametrize("command", COMMANDS)
def test_directory_named_like_a_policy_file(command, tmp_path, monkeypatch):
    (tmp_path / "permits.policy").mkdir()
    monkeypatch.chdir(tmp_path)
    output, exit_code = _invoke([command, "permits.policy"])
    _assert_clean(output, exit_code)
    assert exit_code == 0, output


# ---- FIFOs: in a subprocess, so that a blocking read fails the test instead of hanging the run ----------------

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
SUBPROCESS_TIMEOUT = 30


def _run_cli(args: list[str], cwd: Path, timeout: float = SUBPROCESS_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-m", "coherence_rules.cli", *args], cwd=cwd, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"coherence {' '.join(args)} did not finish: it blocks on the FIFO")


@needs_fifo
@pytest.mark.parametrize("command", COMMANDS)
def test_fifo_given_as_a_file(command, tmp_path):
    os.mkfifo(tmp_path / "permits.policy")
    proc = _run_cli([command, "permits.policy"], tmp_path)
    output = proc.stdout + proc.stderr
    _assert_clean(output, proc.returncode)
    assert "error[E110]: cannot read 'permits.policy'" in output
    assert proc.returncode == 2


@needs_fifo
def test_fifo_given_as_a_file_message(tmp_path):
    os.mkfifo(tmp_path / "permits.policy")
    proc = _run_cli(["lint", "permits.policy"], tmp_path)
    assert "no such file or directory" not in proc.stdout + proc.stderr


@needs_fifo
def test_fifo_inside_a_directory(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "mu.policy").write_text('jurisdiction MU "Republic of Mauritius" { level: national }\n',
                                                encoding="utf-8")
    os.mkfifo(tmp_path / "set" / "permits.policy")
    proc = _run_cli(["lint", "set"], tmp_path, timeout=10)  # a normal run takes about a second
    _assert_clean(proc.stdout + proc.stderr, proc.returncode)


# ---- fmt ----------------------------------------------------------------------------------------------------------


def test_fmt_leaves_a_file_with_a_syntax_error_alone(tmp_path, monkeypatch):
    data = (b'# Mauritius\r\njurisdiction   MU "Republic of Mauritius" {  level: national; }\r\n'
            b'actor MOH "Ministry of Health and Wellness" { kind: ministry jurisdiction: MU }\r\n')
    path = tmp_path / "mu.policy"
    path.write_bytes(data)
    before = _snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    output, exit_code = _invoke(["fmt", "mu.policy"])
    _assert_clean(output, exit_code)
    assert "error[E101]: unexpected character ';'" in output
    assert "--> mu.policy:2:61" in output
    assert exit_code == 2
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mu.policy"]


# ---- library bugs, each with the smallest input that shows it -----------------------------------------------------


def _lint_text(tmp_path: Path, monkeypatch, files: dict[str, str], env: dict[str, str] | None = None) -> str:
    _write(tmp_path, {k: v.encode() for k, v in files.items()})
    monkeypatch.chdir(tmp_path)
    output, exit_code = _invoke(["lint", *files], env)
    _assert_clean(output, exit_code)
    return output


def test_unquoted_title_after_another_statement(tmp_path, monkeypatch):
    out = _lint_text(tmp_path, monkeypatch, {"hss.policy": (
        'jurisdiction MU "Republic of Mauritius" { level: national }\n'
        'instrument HSS Health Sector Plan { kind: strategy  jurisdiction: MU }\n')})
    assert "error[E104]" in out and "--> hss.policy:2:16" in out, out


def test_unquoted_title_help_quotes_the_words(tmp_path, monkeypatch):
    out = _lint_text(tmp_path, monkeypatch, {"wpr.policy": (
        'instrument WPR Work Permit Regulations { kind: regulation }\n')})
    assert "error[E104]" in out
    assert '"Work Permit Regulations"' in out, out


def test_syntax_error_in_a_fact_suggests_fact_syntax(tmp_path, monkeypatch):
    out = _lint_text(tmp_path, monkeypatch, {"hss.policy": (
        'objective HSS.2.1 "Expand the nursing workforce" {\n  instrument: HSS\n  aim: increase ]\n}\n')})
    assert "error[E100]: unexpected ']'" in out and "--> hss.policy:3:17" in out, out
    assert "`derive`" not in out and "`when`" not in out, out


def test_nested_list_in_a_titled_fact(tmp_path, monkeypatch):
    out = _lint_text(tmp_path, monkeypatch, {"ncm.policy": (
        'mechanism NCM "National coordination mechanism" { jurisdiction: MU  members: [[MOH, PIO]] }\n')})
    assert "error[E108]" in out and "--> ncm.policy:1:79" in out, out


def test_misspelt_field_in_a_condition(tmp_path, monkeypatch):
    out = _lint_text(tmp_path, monkeypatch, {"w.rules": criterion("ocupation == nurse")})
    assert "error[E208]" in out and "did you mean 'occupation'?" in out, out


def test_wrong_reference_type_message_grammar(tmp_path, monkeypatch):
    out = _lint_text(tmp_path, monkeypatch, {"wpr.policy": (
        'jurisdiction MU "Republic of Mauritius" { level: national }\n'
        'actor MOH "Ministry of Health and Wellness" { kind: ministry  jurisdiction: MU }\n'
        'measure WPR.7 { instrument: MOH  area: admission  effect: restrict }\n')})
    assert "'MOH' is an actor, but 'instrument' expects an instrument" in out, out


def test_file_too_large_message_with_a_small_limit(tmp_path, monkeypatch):
    out = _lint_text(tmp_path, monkeypatch, {"mu.policy": (
        '# Mauritius\njurisdiction MU "Republic of Mauritius" { level: national }\n'
        'actor PIO "Passport and Immigration Office" { kind: agency  jurisdiction: MU }\n')},
        env={"COHERENCE_MAX_FILE_SIZE": "100"})
    assert "error[E113]" in out
    assert "0 MiB" not in out and "100" in out, out


def test_deep_not_points_at_a_not(tmp_path, monkeypatch):
    source = criterion("not " * 200 + "aim == increase")
    out = _lint_text(tmp_path, monkeypatch, {"deep.rules": source})
    location = next(line for line in out.splitlines() if line.strip().startswith("--> deep.rules:8:"))
    column = int(location.rsplit(":", 1)[1])
    assert source.splitlines()[7][column - 1:column + 3] == "not ", location


def test_unterminated_fence_is_named(tmp_path, monkeypatch):
    files, _, _, _ = CASES["markdown-unterminated-fence"]
    out = _lint_text(tmp_path, monkeypatch, {k: v.decode() for k, v in files.items()})
    assert "health-strategy.md:5:" in out, out


def test_self_feeding_rule_stops_with_the_default_limit(tmp_path):
    golden = Path(__file__).parent / "golden" / "E501"
    for p in golden.iterdir():
        if p.suffix in (".rules", ".policy"):
            (tmp_path / p.name).write_bytes(p.read_bytes())
    try:
        proc = subprocess.run([sys.executable, "-m", "coherence_rules.cli", "check", ".", "--as-of", "2025-06-30"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("check with the default --max-derived did not stop within two minutes")
    assert "error[E501]" in proc.stdout + proc.stderr


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x0c", "\x1c", "\x85"])
def test_an_excerpt_shows_the_line_named_after_a_string_holding_a_line_separator(tmp_path, monkeypatch, separator):
    """Python's ``splitlines`` also breaks at these characters; the parser counts lines at ``\\n``
    only, so the excerpt under ``file:2:...`` must be line 2 as the parser counts it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "set.policy").write_text(
        f'jurisdiction HX "Republic{separator}of Hostile" {{ level: national }}\n'
        'objective HX.1 "Expand the nursing workforce" { jurisdiction: HX  area: health_access }\n',
        encoding="utf-8")
    result = CliRunner().invoke(main, ["lint", "set.policy"])
    assert result.exit_code == 2, result.output
    assert "--> set.policy:2:" in result.output
    assert '2 | objective HX.1 "Expand the nursing workforce"' in result.output
