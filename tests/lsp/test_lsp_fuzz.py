"""1,000 random edits through a real client: the server keeps running and, once the texts are
restored, answers correctly.

The edits delete, insert and replace random spans of copies of the shipped files
(policies/mauritius/*.policy and rulesets/core.rules) with random characters (non-ASCII and
characters outside the Basic Multilingual Plane among them, so positions are UTF-16 code units
that differ from code points), snippets of the language and of the same files, or swap one word
for another (so that edits also reach the checks after parsing). They are sent as incremental
changes, so the server applies them with the client's positions; requests of every kind are
interleaved at random positions. The seed is fixed: a failure replays.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from tests.lsp.lsp_client import LspClient, position, position_of  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SEED = 20240917
EDITS = 1000

# No line-separator characters other than "\n": LSP clients and servers count lines by \n, \r\n
# and \r only, and a test client must agree with the server on every position.
ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-   \n\n\t{}[]:,\"'#@=!<>()\\/"
    "éüßçøñ—“”…€ΩЖ中文😀🇲🇺𝔸"
)
SNIPPETS = ['"', "{", "}", "[", "]", ":", "\n", "@", "#", '"unterminated', "accept ADM-SECTOR on [", "accept X on [A, B] {",
            "measure M.1 \"t\" {", "objective", "when {", "derive pressure {", "criterion C \"t\" {", "type t {",
            "enum e {", "extend enum occupation {", "test \"t\" { given {", "expect no ", "not ", "exists ",
            "== null", "matches \"(\"", "2019-02-30", "-99", "true", "ref ", "list of ", "@WPR.7", "```policy\n",
            "{" * 30, "}" * 30, "not " * 40]


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _random_text(rng: random.Random, sources: list[str]) -> str:
    kind = rng.random()
    if kind < 0.4:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))
    if kind < 0.7:
        return rng.choice(SNIPPETS)
    src = rng.choice(sources)
    a = rng.randrange(len(src))
    return src[a:a + rng.randint(1, 200)]


def test_random_edits_do_not_stop_the_server(tmp_path):
    set_dir = tmp_path / "mauritius"
    shutil.copytree(REPO / "policies" / "mauritius", set_dir)
    (tmp_path / "coherence.toml").write_text("as_of = 2026-11-23\n", encoding="utf-8")
    rules_dir = tmp_path / "rules-dev"
    rules_dir.mkdir()
    shutil.copy(REPO / "rulesets" / "core.rules", rules_dir / "core.rules")
    (rules_dir / "coherence.toml").write_text('ruleset = ["."]\n', encoding="utf-8")
    files = [set_dir / "instruments.policy", set_dir / "institutions.policy", rules_dir / "core.rules"]
    originals = [f.read_text(encoding="utf-8") for f in files]
    sources = [(REPO / "policies" / "mauritius" / n).read_text(encoding="utf-8")
               for n in ("instruments.policy", "institutions.policy")] + [originals[2]]
    words = sorted({w for src in sources for w in _WORD.findall(src)})
    rng = random.Random(SEED)
    client = LspClient(tmp_path)
    try:
        client.initialize(tmp_path)
        uris = [client.open(f) for f in files]
        texts = list(originals)
        for n in range(EDITS):
            # Phases of 100 edits, each from the shipped texts: characters and snippets (mostly
            # syntax errors), then words for words (edits that still parse, so they reach the
            # names, the schema and the rules).
            if n % 100 == 0:
                for j in range(3):
                    if texts[j] != originals[j]:
                        client.edit(uris[j], position(texts[j], 0), position(texts[j], len(texts[j])), originals[j])
                        texts[j] = originals[j]
            words_phase = (n // 100) % 2 == 1
            i = rng.choices(range(3), weights=(5, 2, 3))[0]
            text = texts[i]
            a = rng.randrange(len(text) + 1)
            op = rng.random()
            word = _WORD.search(text, a) if words_phase and op < 0.9 else None
            if word is not None:
                # an id for an id, a lower-case word (field, type, member) for a lower-case word
                same = [w for w in rng.sample(words, 20) if w[0].isupper() == word.group(0)[0].isupper()]
                a, b, new = word.start(), word.end(), (same or words)[0]
            elif op < 0.3 or not text:  # insert
                b, new = a, _random_text(rng, sources)
            elif op < 0.6:  # delete
                b, new = min(len(text), a + rng.choice((1, 2, 5, 20, 100))), ""
            else:  # replace
                b, new = min(len(text), a + rng.randint(1, 40)), _random_text(rng, sources)
            if rng.random() < 0.01:  # now and then a whole-text change
                texts[i] = text[:a] + new + text[b:]
                client.change(uris[i], texts[i])
            else:
                client.edit(uris[i], position(text, a), position(text, b), new)
                texts[i] = text[:a] + new + text[b:]
            if n % 10 == 9:  # a request at a random place of a random document, answered
                j = rng.randrange(3)
                at = position(texts[j], rng.randrange(len(texts[j]) + 1))
                method = rng.choice(("textDocument/hover", "textDocument/definition", "textDocument/completion",
                                     "textDocument/formatting", "textDocument/codeAction"))
                if method == "textDocument/formatting":
                    client.text_request(method, uris[j], options={"tabSize": 2, "insertSpaces": True})
                elif method == "textDocument/codeAction":
                    client.text_request(method, uris[j], range={"start": at, "end": at},
                                        context={"diagnostics": client.published(uris[j]) or []})
                else:
                    client.text_request(method, uris[j], at)
        assert client.alive()
        # Restore each text with one incremental edit over what the client believes is the whole
        # text: if the server's text had drifted from the client's, something would be left over.
        for u, text, original in zip(uris, texts, originals, strict=True):
            client.edit(u, position(text, 0), position(text, len(text)), original)
        instruments = originals[0]
        hover = client.text_request("textDocument/hover", uris[0],
                                    position_of(instruments, "instrument:", 3, nth=0))
        assert "ref instrument" in hover["contents"]["value"]
        wpr7 = instruments[: instruments.index("measure WPR.7")].count("\n")
        diags = client.diagnostics(uris[0], lambda d: any(x.get("code") == "ADM-SECTOR" for x in d)
                                   and not any(x["severity"] == 1 for x in d))
        assert [x["range"]["start"]["line"] for x in diags if x["code"] == "ADM-SECTOR"] == [wpr7]
        client.diagnostics(uris[2], lambda d: d == [])
        assert client.log_errors() == []
        assert client.shutdown() == 0
    finally:
        client.close()
