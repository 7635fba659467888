"""``jsontext.dumps`` writes exactly what ``json.dumps(indent=2, sort_keys=True,
ensure_ascii=False)`` writes, on any JSON document and on the shipped sets' reports."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coherence_rules.jsontext import dumps


def _std(doc) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)


_scalars = (st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text())
_docs = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
                     | st.dictionaries(st.text(), inner, max_size=5), max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(_docs)
def test_the_same_text_as_the_standard_library(doc):
    assert dumps(doc) == _std(doc)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none(), st.integers(),
                       max_size=1))
def test_keys_that_are_not_text_are_written_as_the_standard_library_writes_them(doc):
    assert dumps(doc) == _std(doc)


@pytest.mark.parametrize("doc", [
    {}, [], (), "", {"a": {}}, {"a": []}, [[], {}], {"é": "\u2028\x1b\"\\"}, [math.nan, math.inf, -math.inf, -0.0, 1e300],
    {"b": 1, "a": True, "c": None},
])
def test_edge_cases(doc):
    assert dumps(doc) == _std(doc)


def test_what_is_not_json_is_refused():
    with pytest.raises(TypeError):
        dumps({"a": object()})
    with pytest.raises(TypeError):
        dumps({1: 1, "a": 2})  # keys of mixed types cannot be sorted, as with the standard library


def test_a_shipped_report_is_written_the_same():
    from pathlib import Path

    from coherence_rules.session import Session

    root = Path(__file__).resolve().parent.parent
    s = Session([str(root / "policies" / "mauritius")], format="json")
    doc = json.loads(s.render())
    assert doc["findings"]
    assert dumps(doc) == _std(doc)
