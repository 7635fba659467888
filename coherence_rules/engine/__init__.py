"""Run stage: criteria and rules over a policy set's facts.

:func:`run` uses the durable_rules engine (:mod:`.durable`); the reference evaluator
(:mod:`.reference`) gives the same answers by plain nested loops and serves ``explain`` and the
differential tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from ..checker.program import CriterionIR, FactRecord, Program
from .semantics import (DEFAULT_MAX_DERIVED, Derivation, DerivationLimit, Guard, MatchRecord, NegationCycle,
                        RunResult)

ENGINES = ("durable", "reference")


def run(program: Program, facts: list[FactRecord], today: dt.date, *, engine: str = "durable",
        max_derived: int = DEFAULT_MAX_DERIVED, compiled=None) -> RunResult:
    """Forward-chain the program's rules over ``facts`` and match its criteria."""
    if engine == "reference":
        from .reference import run_reference

        return run_reference(program, facts, today, max_derived)
    from .durable import run_durable

    return run_durable(program, facts, today, max_derived, compiled=compiled)


__all__ = ["run", "RunResult", "MatchRecord", "Derivation", "Guard", "DerivationLimit", "NegationCycle", "ENGINES",
           "DEFAULT_MAX_DERIVED"]
