"""The check stage's product: facts after checking (:class:`FactRecord`) and criteria, rules,
accepts and tests in resolved form (:class:`CriterionIR`, :class:`RuleIR`, ...), gathered in a
:class:`Program`. Both engines, the findings and the report read these types; nothing here
depends on how they were checked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..diagnostics import Diagnostic
from ..syntax import ast as A
from .schema import FieldType, Schema

SCORE_LABELS = {3: "indivisible", 2: "reinforcing", 1: "enabling", 0: "consistent", -1: "constraining",
                -2: "counteracting", -3: "cancelling"}


# ---- checked facts -----------------------------------------------------------------------------------


@dataclass(slots=True)
class FactRecord:
    """A fact after checking: typed values (str, int/float, date, bool, tuples for lists),
    inherited fields filled in. ``span`` is the header line's location (None for derived facts)."""

    id: str
    type: str
    title: Optional[str]
    values: dict[str, Any]
    span: Optional[A.Span]
    derived: bool = False

    @property
    def cite(self) -> Optional[str]:
        c = self.values.get("cite")
        return c if isinstance(c, str) else None


# ---- resolved conditions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathRef:
    """A value reached from a bound fact: ``binding`` (None: the pattern's own fact), then the
    ``fields`` followed through references; no fields means the fact's id."""

    binding: Optional[str]
    fields: tuple[str, ...]
    type: FieldType


@dataclass(frozen=True)
class Const:
    value: Any
    type: Optional[FieldType] = None


@dataclass(frozen=True)
class NullRef:
    pass


@dataclass(frozen=True)
class TodayRef:
    pass


OperandIR = Union[PathRef, Const, NullRef, TodayRef]


@dataclass(frozen=True)
class Cmp:
    op: str
    left: OperandIR
    right: OperandIR


@dataclass(frozen=True)
class InSet:
    left: OperandIR
    items: tuple


@dataclass(frozen=True)
class Has:
    """``list contains item``; with ``any``, ``list intersects list``: ``item`` is a list too, and
    the two share an item."""

    left: OperandIR
    item: OperandIR
    any: bool = False


@dataclass(frozen=True)
class Match:
    left: OperandIR
    pattern: str
    regex: Any = field(compare=False, hash=False, default=None)


@dataclass(frozen=True)
class AllOf:
    items: tuple


@dataclass(frozen=True)
class AnyOf:
    items: tuple


@dataclass(frozen=True)
class NotOf:
    item: Any


CondIR = Union[Cmp, InSet, Has, Match, AllOf, AnyOf, NotOf]


@dataclass
class PatternIR:
    kind: str  # match | not | exists
    binding: Optional[str]
    type: str
    cond: Optional[CondIR]
    span: A.Span
    source: str = ""  # the pattern as written, for traces


@dataclass
class CriterionIR:
    code: str
    title: str
    dimension: str
    score: int
    source: str
    message: str
    advice: str
    patterns: list[PatternIR]
    primary: Optional[str]
    docs: dict[str, str]
    span: A.Span
    ruleset: str = ""
    #: the bindings a finding is about (``about: [o, m]``): its identity (fingerprint) and the
    #: written facts it names; None for every positive binding. Bindings left out (a derived
    #: ``overlap`` that only relates two jurisdictions) are part of its proof only.
    about: Optional[list[str]] = None

    @property
    def label(self) -> str:
        return SCORE_LABELS[self.score]


@dataclass
class RuleIR:
    """A derivation rule, resolved. ``describe`` is the template that says in words what a fact it
    derives stands for, over the rule's bindings (its title when it has none)."""

    name: str
    title: str
    patterns: list[PatternIR]
    derive_type: str
    derive: dict[str, OperandIR]
    span: A.Span
    ruleset: str = ""
    describe: str = ""


@dataclass
class AcceptIR:
    """An accepted trade-off. ``derived`` holds the ids of derived facts it names (with their
    spans), which an accept cannot name: the findings stage reports them (E220) with the written
    facts to name instead, and the accept applies to nothing."""

    criterion: str
    ids: list[str]
    reason: str
    until: Optional[dt.date]
    span: A.Span
    derived: list[tuple[str, A.Span]] = field(default_factory=list)


@dataclass
class TestIR:
    name: str
    given: list[A.Fact]
    expectations: list[A.Expectation]
    span: A.Span
    ruleset: str = ""


@dataclass
class RulesetInfo:
    name: str
    title: str
    version: str
    span: Optional[A.Span]


@dataclass
class Program:
    """Everything a run needs, checked."""

    schema: Schema
    facts: list[FactRecord] = field(default_factory=list)
    criteria: list[CriterionIR] = field(default_factory=list)
    rules: list[RuleIR] = field(default_factory=list)
    tests: list[TestIR] = field(default_factory=list)
    accepts: list[AcceptIR] = field(default_factory=list)
    rulesets: list[RulesetInfo] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: what statements with errors declared (:class:`.cascades.Broken`): uses of it are not reported
    broken: Any = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def operand_bindings(x) -> set:
    """Bindings an operand or condition refers to (None for the pattern's own fact)."""
    if isinstance(x, PathRef):
        return {x.binding}
    if isinstance(x, Cmp):
        return operand_bindings(x.left) | operand_bindings(x.right)
    if isinstance(x, InSet):
        out = operand_bindings(x.left)
        for i in x.items:
            out |= operand_bindings(i)
        return out
    if isinstance(x, Has):
        return operand_bindings(x.left) | operand_bindings(x.item)
    if isinstance(x, Match):
        return operand_bindings(x.left)
    if isinstance(x, (AllOf, AnyOf)):
        out = set()
        for i in x.items:
            out |= operand_bindings(i)
        return out
    if isinstance(x, NotOf):
        return operand_bindings(x.item)
    return set()
