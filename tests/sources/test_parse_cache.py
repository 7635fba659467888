"""The parse cache answers as a fresh parse, and a damaged, foreign or shared cache as no cache."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from coherence_rules.syntax import ast as A
from coherence_rules.sources import cache
from coherence_rules.syntax import parser as P


# ---- the parse cache --------------------------------------------------------------------------------------

RULES_TEXT = 'criterion C "t" { dimension: internal  score: -1  source: "s"  message: "m"  advice: "a"\n' \
             '  when { x: a where k == red } }\n'


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("COHERENCE_NO_CACHE", raising=False)
    return tmp_path / "coherence" / "parse"


def _entries(d):
    return sorted(p for p in d.iterdir() if not p.name.startswith(".")) if d.exists() else []


def test_cache_hit_returns_the_same_tree(cache_home):
    first, _ = cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    assert len(_entries(cache_home)) == 1
    assert oct(cache_home.stat().st_mode & 0o777) == "0o700"
    again, diags = cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    assert not diags and A.to_data(again) == A.to_data(first)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "empty"])
def test_damaged_entry_is_a_miss_and_is_removed(cache_home, damage):
    first, _ = cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    (entry,) = _entries(cache_home)
    data = entry.read_bytes()
    entry.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(200),
                       "flip": data[:-5] + bytes([data[-5] ^ 1]) + data[-4:], "empty": b""}[damage])
    k = cache.key(RULES_TEXT, "r.rules", "rules", 0)
    assert cache.read(k) is None
    assert not entry.exists()
    again, diags = cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    assert not diags and A.to_data(again) == A.to_data(first)


def test_version_change_is_a_miss(cache_home, monkeypatch):
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    k = cache.key(RULES_TEXT, "r.rules", "rules", 0)
    monkeypatch.setattr(cache, "__version__", "99.0")
    assert cache.key(RULES_TEXT, "r.rules", "rules", 0) != k
    monkeypatch.setattr(cache, "SCHEMA_VERSION", "99")
    assert cache.read(cache.key(RULES_TEXT, "r.rules", "rules", 0)) is None


def test_old_format_entry_is_a_miss(cache_home, monkeypatch):
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    monkeypatch.setattr(cache, "MAGIC", b"coherence-parse-cache 999\n")
    assert cache.read(cache.key(RULES_TEXT, "r.rules", "rules", 0)) is None


def test_disabled_by_environment(cache_home, monkeypatch):
    monkeypatch.setenv("COHERENCE_NO_CACHE", "1")
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    assert _entries(cache_home) == []


def test_facts_only_sources_are_not_cached(cache_home):
    cache.cached_parse("measure M { x: 1 }", "m.policy", "policy", 0, P.parse_source)
    assert _entries(cache_home) == []


def test_shared_cache_directory_is_not_used(cache_home):
    cache_home.mkdir(parents=True)
    os.chmod(cache_home, 0o777)
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    assert _entries(cache_home) == []
    assert cache.cache_dir() is None


def _write_many(home: str, n: int) -> None:
    os.environ["XDG_CACHE_HOME"] = home
    from coherence_rules.sources import cache as c
    from coherence_rules.syntax.parser import parse_source

    module, _ = parse_source(RULES_TEXT, "r.rules", kind="rules")
    k = c.key(RULES_TEXT, "r.rules", "rules", 0)
    for _ in range(n):
        c.write(k, module)
        assert c.read(k) is not None


def test_concurrent_writers_of_one_key(cache_home):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(cache_home.parent.parent), 40)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert len(_entries(cache_home)) == 1
    assert not [p for p in cache_home.iterdir() if p.name.startswith(".tmp-")]
    assert cache.read(cache.key(RULES_TEXT, "r.rules", "rules", 0)) is not None


def test_prune_keeps_the_directory_bounded(cache_home):
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    for i in range(5):
        (cache_home / f"{i:064x}.pickle").write_bytes(b"x" * 1000)
    cache.prune(cache_home, max_bytes=2000, keep=1500)
    assert sum(p.stat().st_size for p in _entries(cache_home)) <= 2000
