"""Random mutations of source text, shared by the mutation tests of fmt and of the front end."""

from __future__ import annotations

import random
import re

INSERTS = list('{}[]:"#=\n@.,()?') + [" ", "  ", "not ", " and ", " or ", "\\", '\\"', "-", "+", "0", "9", "é",
                                        "when", "where", "\t", "\r\n"]


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        if not text:
            return rng.choice(INSERTS)
        i = rng.randrange(len(text))
        op = rng.randrange(5)
        if op == 0:
            text = text[:i] + text[i + 1:]
        elif op == 1:
            text = text[:i] + text[i] + text[i:]
        elif op == 2:
            text = text[:i] + rng.choice(INSERTS) + text[i:]
        elif op == 3:
            toks = re.findall(r'\s+|"(?:[^"\\\n]|\\.)*"|[\w.\-@]+|.', text)
            if len(toks) > 2:
                a, b = sorted(rng.sample(range(len(toks)), 2))
                toks[a], toks[b] = toks[b], toks[a]
                text = "".join(toks)
        else:
            j = min(len(text), i + rng.randint(1, 40))
            text = text[:i] + text[j:]
    return text
