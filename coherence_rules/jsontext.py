"""JSON text as coherence writes it: keys sorted, two-space indentation, text as is. The same
characters as ``json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)``, written twice
as fast: with an indent, the standard library encodes in Python through a generator per value,
and a batch's document holds over a million values (``tests/test_jsontext.py`` holds the two
equal on generated documents)."""

from __future__ import annotations

from json.encoder import encode_basestring as _string  # the C function where there is one
from typing import Any

_INF = float("inf")


def _float(o: float) -> str:
    if o != o:
        return "NaN"
    if o == _INF:
        return "Infinity"
    if o == -_INF:
        return "-Infinity"
    return float.__repr__(o)


def _key(k: Any) -> str:
    """A key as text, as the standard library converts it."""
    if isinstance(k, str):
        return k
    if isinstance(k, float):
        return _float(k)
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    if isinstance(k, int):
        return int.__repr__(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")


def dumps(doc: Any, depth: int = 0) -> str:
    """``doc`` (dicts, lists, tuples, strings, numbers, booleans, None) as indented JSON with
    sorted keys and no final newline; TypeError for anything else, as ``json.dumps``. ``depth``:
    the nesting depth ``doc`` will have inside a larger document, whose text this is then to be
    put in (its lines indented for that depth; the first line is not)."""
    out: list[str] = []
    append = out.append

    def enc(o: Any, nl: str) -> None:
        cls = o.__class__
        if cls is dict:
            if not o:
                append("{}")
                return
            inner = nl + "  "
            sep = "{" + inner
            for k, v in sorted(o.items()):
                append(sep + _string(k if k.__class__ is str else _key(k)) + ": ")
                sep = "," + inner
                vc = v.__class__
                if vc is str:
                    append(_string(v))
                elif vc is int:
                    append(int.__repr__(v))
                else:
                    enc(v, inner)
            append(nl + "}")
        elif cls is list or cls is tuple:
            if not o:
                append("[]")
                return
            inner = nl + "  "
            sep = "[" + inner
            for v in o:
                append(sep)
                sep = "," + inner
                if v.__class__ is str:
                    append(_string(v))
                else:
                    enc(v, inner)
            append(nl + "]")
        elif cls is str:
            append(_string(o))
        elif o is None:
            append("null")
        elif o is True:
            append("true")
        elif o is False:
            append("false")
        elif isinstance(o, int):
            append(int.__repr__(o))
        elif isinstance(o, float):
            append(_float(o))
        elif isinstance(o, str):
            append(_string(o))
        elif isinstance(o, dict):
            enc(dict(o), nl)
        elif isinstance(o, (list, tuple)):
            enc(list(o), nl)
        else:
            raise TypeError(f"Object of type {cls.__name__} is not JSON serializable")

    enc(doc, "\n" + "  " * depth)
    return "".join(out)
