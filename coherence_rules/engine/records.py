"""What a run produces: the matches of criteria, derived facts and their derivations, the guards'
evidence (:class:`RunResult`), the reasons a run stops (:class:`DerivationLimit`,
:class:`NegationCycle`, :class:`EngineError`), and the plain-tuple form in which a child process
sends its records back (unpickling dataclasses costs several times more).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..checker.ir import FactRecord
from ..diagnostics import Diagnostic


class DerivationLimit(Exception):
    """More facts were derived than the limit allows."""

    def __init__(self, limit: int, rule: str):
        super().__init__(f"rules derived more than {limit} facts (last: rule '{rule}')")
        self.limit = limit
        self.rule = rule


@dataclass(frozen=True, slots=True)
class Guard:
    """Evidence for a ``not`` or ``exists`` pattern of one match: what was absent, or which fact
    (the first by id) showed existence."""

    kind: str  # "not" | "exists"
    text: str
    witness: Optional[str] = None


@dataclass(frozen=True, slots=True)
class Derivation:
    rule: str
    premises: tuple[tuple[str, str], ...]  # (binding, fact id) per positive pattern
    guards: tuple[Guard, ...] = ()


@dataclass(slots=True)
class MatchRecord:
    """One firing of a criterion: the facts bound to its positive patterns, and its guards."""

    criterion: str
    bindings: tuple[tuple[str, str], ...]
    guards: tuple[Guard, ...] = ()

    @property
    def fact_ids(self) -> tuple[str, ...]:
        return tuple(sorted({fid for _, fid in self.bindings}))


@dataclass
class RunResult:
    """What an engine produced: criterion matches (one per distinct set of facts) and derived facts
    with every derivation of each."""

    matches: list[MatchRecord] = field(default_factory=list)
    derived: dict[str, FactRecord] = field(default_factory=dict)
    derivations: dict[str, list[Derivation]] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: memory private to the child processes that ran the engine, in bytes, summed over children
    #: that ran at once (pages they allocated or copied from the parent); 0 when not known
    child_memory: int = 0
    #: peak resident set size of the process when it forked those children, in bytes, plus what it
    #: received from them; with ``child_memory``, the most the run held at once (0: not known)
    parent_memory: int = 0

    def finding_keys(self) -> set[tuple[str, tuple[str, ...]]]:
        return {(m.criterion, m.fact_ids) for m in self.matches}

    def derivation_keys(self) -> set[tuple[str, str, tuple[str, ...]]]:
        return {(fid, d.rule, tuple(sorted(f for _, f in d.premises))) for fid, ds in self.derivations.items() for d in ds}


class NegationCycle(Exception):
    def __init__(self, rules: list[str]):
        super().__init__("rules depend on each other through `not`/`exists`: " + ", ".join(rules))
        self.rules = rules


def plain_guards(guards: tuple[Guard, ...]) -> Optional[list[tuple]]:
    """Guards as the plain tuples a child records and sends back (None for none): unpickling
    dataclasses costs several times more."""
    return [(g.kind, g.text, g.witness) for g in guards] if guards else None


def guards_from_plain(plain: Optional[list[tuple]]) -> tuple[Guard, ...]:
    return tuple(Guard(*g) for g in plain) if plain else ()


def derivations_from_plain(plain: dict[str, list[tuple]]) -> dict[str, list[Derivation]]:
    """Derivations from the plain ``(rule, premises, guards)`` tuples of :meth:`EngineRun.run`."""
    return {k: [Derivation(r, p, guards_from_plain(g)) for r, p, g in ds] for k, ds in plain.items()}


class EngineError(Exception):
    """The rule engine itself failed (a crash of its process, an id it cannot store)."""
