"""Criteria, derivation rules and accepts: checked and turned into their resolved forms."""

from __future__ import annotations

from typing import Optional

from ..diagnostics import Diagnostic, did_you_mean
from ..syntax import ast as A
from .conditions import _Scope, _compatible, _resolve_operand, _resolve_patterns, _settle, _type_of
from .ir import AcceptIR, CriterionIR, NullRef, OperandIR, RuleIR
from .schema import Schema, parse_date
from .templates import check_template

# ---- criteria and rules ---------------------------------------------------------------------------------------

CRITERION_FIELDS = {"dimension", "score", "source", "message", "advice", "primary", "about", "detects", "why",
                    "example", "resolution"}
REQUIRED_CRITERION_FIELDS = ("dimension", "score", "source", "message", "advice")


def _check_criterion(c: A.Criterion, schema: Schema, diags: list, ruleset: str) -> Optional[CriterionIR]:
    ok = True
    vals: dict[str, A.Value] = {}
    for f in c.fields:
        if f.name not in CRITERION_FIELDS:
            diags.append(Diagnostic.make("E302", f"unknown criterion field '{f.name}'", f.name_span,
                                         help=did_you_mean(f.name, CRITERION_FIELDS)))
            ok = False
            continue
        if f.name in vals:
            diags.append(Diagnostic.make("E306", f"field '{f.name}' is set twice", f.name_span))
            ok = False
            continue
        vals[f.name] = f.value
    for req in REQUIRED_CRITERION_FIELDS:
        if req not in vals:
            diags.append(Diagnostic.make("E212", f"criterion {c.code} has no `{req}`", c.code_span))
            ok = False
    # Every part is checked even when an earlier one has an error, so one lint shows them all;
    # what depends on the patterns (templates, `primary`, `about`) is checked against the
    # bindings as written when the patterns do not resolve.
    patterns = None
    if c.when is None:
        diags.append(Diagnostic.make("E212", f"criterion {c.code} has no `when` block", c.code_span))
        ok = False
    else:
        patterns = _resolve_patterns(c.when, schema, diags)
        if patterns is None:
            ok = False
        elif not patterns:
            diags.append(Diagnostic.make("E212", f"criterion {c.code} has an empty `when` block", c.when.span))
            ok = False
    bindings = _written_bindings(c.when, patterns)
    positive = [p.binding for p in patterns if p.kind == "match" and p.binding] if patterns is not None else \
        [p.binding for p in (c.when.patterns if c.when is not None else []) if p.kind == "match" and p.binding]
    strings = {}
    for name in ("source", "message", "advice", "detects", "why", "example", "resolution"):
        v = vals.get(name)
        if v is None:
            continue
        if v.kind != "string":
            diags.append(Diagnostic.make("E217", f"`{name}` must be a quoted string", v.span))
            ok = False
            continue
        strings[name] = v.value
    if c.when is not None:  # without a `when` block every placeholder would be an unknown binding
        for name in ("message", "advice"):
            if name in strings and not check_template(strings[name], vals[name].span, bindings, schema, diags):
                ok = False
    dim = vals.get("dimension")
    dimension = ""
    if dim is not None:
        if dim.kind != "word" or "dimension" not in schema.enums or dim.value not in schema.enums["dimension"].members:
            members = schema.enums["dimension"].members if "dimension" in schema.enums else []
            diags.append(Diagnostic.make("E301", f"unknown dimension '{dim.text or dim.value}'", dim.span,
                                         help=did_you_mean(str(dim.value), members) or f"dimensions: {', '.join(members)}"))
            ok = False
        else:
            dimension = dim.value
    sc = vals.get("score")
    score = 0
    if sc is not None:
        if sc.kind != "number" or not isinstance(sc.value, int) or not -3 <= sc.value <= 3:
            diags.append(Diagnostic.make("E217", "score must be an integer from -3 to +3", sc.span,
                                         label="not on the seven-point scale"))
            ok = False
        else:
            score = sc.value
    primary = None
    pv = vals.get("primary")
    if pv is not None and c.when is not None:
        if pv.kind != "word" or pv.value not in bindings:
            diags.append(Diagnostic.make("E207", "`primary` must name a binding of the `when` block", pv.span,
                                         help=did_you_mean(str(pv.value), bindings)))
            ok = False
        else:
            primary = pv.value
    about = None
    av = vals.get("about")
    if av is not None and c.when is not None:
        words = [i for i in av.items] if av.kind == "list" else []
        bad = [i for i in words if i.kind != "word" or i.value not in positive]
        if av.kind != "list" or not words or bad:
            where = bad[0].span if bad else av.span
            diags.append(Diagnostic.make("E207", "`about` must list bindings of the criterion's positive patterns",
                                         where, help=f"bindings: {', '.join(positive)}"))
            ok = False
        else:
            about = [i.value for i in words]
            if primary is not None and primary not in about:
                diags.append(Diagnostic.make("E207", "`primary` must be one of the bindings `about` lists",
                                             pv.span))
                ok = False
    if not ok or not patterns:
        return None
    docs = {k: strings[k] for k in ("detects", "why", "example", "resolution") if k in strings}
    return CriterionIR(c.code, c.title or c.code, dimension, score, strings["source"], strings["message"],
                       strings["advice"], patterns, primary, docs, c.code_span, ruleset, about)


def _written_bindings(when: Optional[A.When], patterns) -> dict[str, str]:
    """Binding -> type: of the resolved patterns, or as written when they did not resolve (a type
    may then be unknown; templates skip what goes through it)."""
    if patterns is not None:
        return {p.binding: p.type for p in patterns if p.binding}
    return {p.binding: p.type_name for p in (when.patterns if when is not None else []) if p.binding}


RULE_FIELDS = ("doc", "describe")


def _check_rule(r: A.Rule, schema: Schema, diags: list, ruleset: str) -> Optional[RuleIR]:
    ok = True
    strings: dict[str, tuple[str, A.Span]] = {}
    for f in r.fields:
        if f.name not in RULE_FIELDS:
            diags.append(Diagnostic.make("E302", f"unknown rule field '{f.name}'", f.name_span,
                                         help="a rule holds a `when` block, a `derive` block, and optionally `doc` "
                                              "and `describe`"))
            ok = False
        elif f.value.kind != "string":
            diags.append(Diagnostic.make("E217", f"`{f.name}` must be a quoted string", f.value.span))
            ok = False
        else:
            strings[f.name] = (f.value.value, f.value.span)
    if r.when is None or r.derive is None:
        missing = "when" if r.when is None else "derive"
        diags.append(Diagnostic.make("E212", f"rule {r.name} has no `{missing}` block", r.name_span))
        return None
    # the derive block is checked even when a pattern has an error (one lint shows both)
    patterns = _resolve_patterns(r.when, schema, diags)
    if patterns is None:
        ok = False
    bindings = _written_bindings(r.when, patterns)
    if "describe" in strings and not check_template(*strings["describe"], bindings, schema, diags):
        ok = False
    d = r.derive
    t = schema.types.get(d.type_name)
    if t is None:
        diags.append(Diagnostic.make("E202", f"unknown type '{d.type_name}'", d.type_span,
                                     help=did_you_mean(d.type_name, schema.types)))
        return None
    known = {b: ty for b, ty in bindings.items() if ty in schema.types}
    scope = _Scope(schema, known, None, None, frozenset(set(bindings) - set(known)))
    out: dict[str, OperandIR] = {}
    for df in d.fields:
        spec = t.fields.get(df.name)
        if spec is None:
            diags.append(Diagnostic.make("E302", f"unknown field '{df.name}' for type '{t.name}'", df.span,
                                         help=did_you_mean(df.name, t.fields)))
            ok = False
            continue
        if df.name in out:
            diags.append(Diagnostic.make("E306", f"field '{df.name}' is set twice", df.span))
            ok = False
            continue
        op = _resolve_operand(df.value, scope, diags)
        if op is None:
            ok = False
            continue
        if isinstance(op, (NullRef,)):
            diags.append(Diagnostic.make("E217", "a derived field cannot be `null`: leave it out", df.span))
            ok = False
            continue
        op = _settle(op, spec.type, schema, diags, df.name)
        if op is None:
            ok = False
            continue
        ot = _type_of(op)
        if ot is not None and not _compatible(ot, spec.type):
            diags.append(Diagnostic.make("E217", f"'{df.name}' is {spec.type.describe()} but the value is "
                                                 f"{ot.describe()}", df.value.span))
            ok = False
            continue
        out[df.name] = op
    for fname, spec in t.fields.items():
        if not spec.optional and fname not in out and ok:
            diags.append(Diagnostic.make("E217", f"derive {t.name} does not set required field '{fname}'", d.type_span))
            ok = False
    if not ok:
        return None
    return RuleIR(r.name, r.title or r.name, patterns, t.name, out, r.name_span, ruleset,
                  strings.get("describe", ("", None))[0])


def _check_accept(a: A.Accept, criteria: dict, by_id: dict, diags: list) -> Optional[AcceptIR]:
    ok = True
    if a.criterion not in criteria:
        diags.append(Diagnostic.make("E211", f"unknown criterion '{a.criterion}'", a.criterion_span,
                                     help=did_you_mean(a.criterion, criteria)))
        ok = False
    derived = []
    for i, s in zip(a.ids, a.id_spans):
        if "#" in i:  # a derived fact's id: only the run knows it (the findings stage reports it)
            derived.append((i, s))
        elif i not in by_id:
            diags.append(Diagnostic.make("E203", f"unknown fact '{i}'", s, help=did_you_mean(i, by_id)))
            ok = False
    reason, until = None, None
    for f in a.fields:
        if f.name == "reason" and f.value.kind == "string":
            reason = f.value.value
        elif f.name == "until" and f.value.kind in ("date", "number"):
            until = parse_date(f.value.text)
            if until is None:
                diags.append(Diagnostic.make("E305", f"'{f.value.text}' is not a valid date", f.value.span))
                ok = False
        elif f.name in ("reason", "until"):
            diags.append(Diagnostic.make("E304", f"`{f.name}` expects " + ("a string" if f.name == "reason" else "a date"),
                                         f.value.span))
            ok = False
        else:
            diags.append(Diagnostic.make("E302", f"unknown field '{f.name}' for `accept`", f.name_span,
                                         help=did_you_mean(f.name, ["reason", "until"])))
            ok = False
    if reason is None and ok:
        diags.append(Diagnostic.make("E303", "`accept` is missing required field 'reason'", a.criterion_span,
                                     help='say why the trade-off is accepted: reason: "..."'))
        ok = False
    if not a.ids:
        diags.append(Diagnostic.make("E303", "`accept` lists no fact ids", a.criterion_span))
        ok = False
    return AcceptIR(a.criterion, list(a.ids), reason or "", until, a.span, derived) if ok else None
