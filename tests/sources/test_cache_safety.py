"""Every cache read goes through one checked reader: an entry that is a symbolic link, a FIFO, a
device, a huge file, another user's file or damaged data is a miss (never a hang, never memory
exhausted, never code run), a planted link is never written through, and ``COHERENCE_NO_CACHE=1``
reads nothing at all, the grammar included."""

from __future__ import annotations

import builtins
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coherence_rules.sources import cache
from coherence_rules.syntax import parser as P

ROOT = Path(__file__).resolve().parents[2]
RULES_TEXT = 'criterion C "t" { dimension: internal  score: -1  source: "s"  message: "m"  advice: "a"\n' \
             '  when { x: a where k == red } }\n'


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("COHERENCE_NO_CACHE", raising=False)
    P._lark_parser.cache_clear()
    yield tmp_path / "xdg" / "coherence"
    P._lark_parser.cache_clear()


def _old_lark_cache_path(root: Path) -> Path:
    """Where the parser used to let Lark keep (and pickle) its own grammar cache."""
    import lark

    grammar = P.GRAMMAR_PATH.read_text(encoding="utf-8")
    return root / f"grammar-{hashlib.sha256((grammar + lark.__version__).encode()).hexdigest()[:16]}.lark"


def test_a_link_planted_at_the_grammar_cache_is_never_written_through(home, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    (home / "grammar").mkdir(parents=True, mode=0o700)
    os.chmod(home, 0o700)
    planted = [home / "grammar" / P.grammar_cache_name(), _old_lark_cache_path(home)]
    for link in planted:
        link.symlink_to(outside)
    P._lark_parser()
    assert outside.read_text() == "precious\n"
    # the entry's name now holds a real entry (the link itself was replaced), and it loads
    entry = home / "grammar" / P.grammar_cache_name()
    assert entry.is_file() and not entry.is_symlink()
    P._lark_parser.cache_clear()
    module, diags = P.parse_source(RULES_TEXT, "r.rules", kind="rules")
    assert not diags and module.items
    assert outside.read_text() == "precious\n"


def test_the_grammar_cache_is_data_and_answers_as_a_fresh_analysis(home):
    fresh, _ = P.parse_source(RULES_TEXT, "r.rules", kind="rules")  # builds and stores the analysis
    entry = home / "grammar" / P.grammar_cache_name()
    data = entry.read_bytes()
    assert data.startswith(P.GRAMMAR_MAGIC)
    import json

    assert "data" in json.loads(data[len(P.GRAMMAR_MAGIC) + 32:])["d"][0]  # JSON data, not a pickle
    P._lark_parser.cache_clear()
    again, _ = P.parse_source(RULES_TEXT, "r.rules", kind="rules")  # loads it
    from coherence_rules.syntax import ast as A

    assert A.to_data(again) == A.to_data(fresh)


# ---- damage at every kind of entry, in a child process with a timeout (a hang fails the test) ----

CHILD = textwrap.dedent(r"""
    import os, sys
    from coherence_rules.sources import cache
    from coherence_rules.syntax import parser as P
    from coherence_rules.syntax.parser import parse_source

    RULES = sys.argv[2]
    damage = sys.argv[1]
    root = cache.cache_root()

    def plant(path):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.exists() or path.is_symlink():
            path.unlink()
        if damage == "fifo":
            os.mkfifo(path, 0o600)
        elif damage == "dev-zero":
            path.symlink_to("/dev/zero")
        elif damage == "huge":
            with open(path, "wb") as f:
                f.truncate(cache.MAX_ENTRY_BYTES + 4096)  # sparse: costs no disk
        elif damage == "other-owner":
            path.write_bytes(good[path])
            os.chown(path, 65534, 65534)
        elif damage == "corrupt":
            data = good[path]
            path.write_bytes(data[:len(data) // 2] + os.urandom(64))
        elif damage == "pickle":
            import pickle
            path.write_bytes(pickle.dumps({"data": 1, "memo": 2}))

    # first a clean run stores one entry of each kind
    parse_source(RULES, "r.rules", kind="rules")  # the grammar
    k = cache.key(RULES, "r.rules", "rules", 0)
    cache.cached_parse(RULES, "r.rules", "rules", 0, parse_source)  # the parse cache
    pol = "measure M { x: 1 }\n"
    m, _ = cache.cached_parse(pol, "m.policy", "policy", 0, parse_source)
    cache.store_records(m, "schema", [("M", "measure", None, {"x": 1}, ("m.policy", 1, 1, 1, 2))])
    entries = [root / "grammar" / P.grammar_cache_name(), cache.cache_dir() / f"{k}.pickle",
               cache.cache_dir() / f"{m.key}.facts"]
    good = {p: p.read_bytes() for p in entries}
    for p in entries:
        plant(p)

    # every reader misses, and the answers are a fresh parse's
    P._lark_parser.cache_clear()
    module, diags = parse_source(RULES, "r.rules", kind="rules")
    assert not diags and module.items
    assert cache.read(k) is None
    again, _ = cache.cached_parse(pol, "m.policy", "policy", 0, parse_source)
    assert again.records is None, "the damaged check cache entry was used"
    for p in entries:  # removed, or replaced by a real entry of this user
        assert not p.is_symlink() and (not p.exists() or (p.is_file() and p.stat().st_uid == os.getuid()
                                                          and p.stat().st_size < cache.MAX_ENTRY_BYTES)), p
    print("ok")
""")


@pytest.mark.parametrize("damage", ["fifo", "dev-zero", "huge", "other-owner", "corrupt", "pickle"])
def test_a_damaged_or_planted_entry_is_a_miss(tmp_path, damage):
    if damage == "other-owner" and os.getuid() != 0:
        pytest.skip("needs root to give a file to another user")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("COHERENCE_NO_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", CHILD, damage, RULES_TEXT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_the_reader_bounds_what_it_reads(tmp_path, monkeypatch):
    """An entry that grows past its bound between ``fstat`` and the read is refused too."""
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    assert cache.write_checked(d, "e", b"m\n", b"x" * 100)
    assert cache.read_checked(d, "e", b"m\n", max_bytes=100) == b"x" * 100
    assert cache.read_checked(d, "e", b"m\n", max_bytes=99) is None
    assert not (d / "e").exists()  # removed


def test_no_cache_reads_nothing_not_even_the_grammar(home, monkeypatch):
    # a clean run with the cache leaves every kind of entry
    P.parse_source(RULES_TEXT, "r.rules", kind="rules")
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    before = sorted(p for p in home.rglob("*"))
    assert any(p.name.startswith("grammar-") for p in before)
    P._lark_parser.cache_clear()
    monkeypatch.setenv("COHERENCE_NO_CACHE", "1")
    opened = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def spy_os_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    module, diags = P.parse_source(RULES_TEXT, "r.rules", kind="rules")
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    monkeypatch.undo()
    assert not diags and module.items
    assert [p for p in opened if str(home) in p] == []
    assert sorted(p for p in home.rglob("*")) == before
