"""``--dump STAGE``: a stage's product as plain JSON data, for debugging criteria and the engine.

The shapes are for people reading them, not a published format: field names follow the classes
they come from (:mod:`.checker.ir`, :mod:`.engine.compiler`, :mod:`.engine.records`), dates are ISO
strings, spans ``{"file", "line", "column"}``, resolved conditions nested ``{"op": ...}`` objects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from .checker import ir
from .syntax.ast import Span


def plain(obj: Any) -> Any:
    """Any product value as JSON data: dataclasses by field (``op`` names the class of a resolved
    condition or operand), tuples as lists, dates as ISO text, compiled regular expressions by
    their pattern."""
    if isinstance(obj, Span):
        return {"file": obj.file, "line": obj.line, "column": obj.column}
    if isinstance(obj, (dt.date, dt.datetime)):
        return obj.isoformat()
    if isinstance(obj, re.Pattern):
        return obj.pattern
    if isinstance(obj, ir.FieldType):
        return obj.describe()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        if isinstance(obj, _CONDITIONS):
            out["op"] = type(obj).__name__
        for f in dataclasses.fields(obj):
            if f.name == "regex":
                continue
            out[f.name] = plain(getattr(obj, f.name))
        return out
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [plain(v) for v in obj]
        return sorted(items, key=repr) if isinstance(obj, (set, frozenset)) else items
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)


_CONDITIONS = (ir.PathRef, ir.Const, ir.NullRef, ir.TodayRef, ir.Cmp, ir.InSet, ir.Has, ir.Match, ir.AllOf, ir.AnyOf,
               ir.NotOf)


def dump_program(program: ir.Program) -> dict:
    """The check stage's product: every checked fact, criterion, rule, accept and test."""
    return {
        "rulesets": plain(program.rulesets),
        "facts": [{"id": f.id, "type": f.type, "title": f.title, "values": plain(f.values),
                   "location": plain(f.span)} for f in program.facts],
        "criteria": [plain(c) for c in program.criteria],
        "rules": [plain(r) for r in program.rules],
        "accepts": [plain(a) for a in program.accepts],
        "tests": [{"name": t.name, "ruleset": t.ruleset, "location": plain(t.span)} for t in program.tests],
    }


def dump_compiled(compiled) -> dict:
    """The compile stage's product: the durable_rules definition, and what its names stand for
    (flags: the single-fact conditions of a pattern; keys: the fields a join compares;
    disjuncts: which criterion or rule each durable rule belongs to)."""
    return {
        "definition": compiled.definition,
        "flags": {f.name: {"type": f.type, "conditions": plain(f.conds)}
                  for flags in compiled.flags.values() for f in flags},
        "keys": {k.name: {"type": k.type, "fields": list(k.fields)} for keys in compiled.keys.values() for k in keys},
        "disjuncts": {name: {"owner": d.owner, "criterion": d.is_criterion, "bindings": list(d.bindings),
                             "flags": list(d.flags), "residual": plain(d.residual),
                             "in_engine": len(d.aliases) > 1}
                      for name, d in compiled.disjuncts.items()},
        "strata": dict(sorted(compiled.strata.items())),
        "partition_field": compiled.partition_field,
        "splittable": compiled.splittable,
    }


def dump_run(result) -> dict:
    """The run stage's product: each criterion match, each derived fact and its derivations."""
    return {
        "matches": [{"criterion": m.criterion, "bindings": [list(b) for b in m.bindings], "guards": plain(m.guards)}
                    for m in result.matches],
        "derived": [{"id": k, "type": f.type, "values": plain(f.values),
                     "derivations": [{"rule": d.rule, "premises": [list(p) for p in d.premises],
                                      "guards": plain(d.guards)} for d in result.derivations.get(k, [])]}
                    for k, f in sorted(result.derived.items())],
    }
