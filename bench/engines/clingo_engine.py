"""The four benchmark rules in answer set programming, run by clingo (Potassco).

Facts become ground atoms, one per fact with its fields in fixed positions (`null` for an absent
field); an objective's indicator is a separate atom, as an optional attribute usually is in ASP.
The program is stratified, so grounding computes the single answer set and solving is trivial;
`not` is negation as failure.
"""

from __future__ import annotations

import clingo

PROGRAM = """
admission_area(admission; visa; labour_migration).
restrictive(restrict; prohibit).

% R1 two-way conflict join (ADM-SECTOR)
r1(O, M) :- objective(O, increase, workforce, X, J), X != null, J != null,
            measure(M, A, E, X, J), admission_area(A), restrictive(E).

% R2 derived fact and a join on it (WORKFORCE-DRAIN via pressure)
pressure(X, J, decrease) :- measure(_, emigration, facilitate, X, J), X != null, J != null.
r2(O, X, J) :- objective(O, increase, workforce, X, J), pressure(X, J, decrease).

% R3 single-fact absence (OBJ-NO-INDICATOR)
r3(O) :- objective(O, _, _, _, _), not indicator(O).

% R4 cross-fact negation (INST-NO-LEAD)
area_in_use(A, J) :- measure(_, A, _, _, J), J != null.
has_lead(A, J) :- role(_, A, lead, J).
r4(A, J) :- area_in_use(A, J), not has_lead(A, J).

#show r1/2. #show r2/3. #show r3/1. #show r4/2.
"""


def _string(value) -> str:
    if value is None:
        return "null"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _word(value) -> str:
    # Enum members are snake_case words, which are valid clingo constants.
    return "null" if value is None else value


def facts_program(facts: list[dict]) -> str:
    """The facts as ASP text: one ground atom per fact (plus indicator atoms)."""
    lines = []
    append = lines.append
    for fact in facts:
        kind = fact["type"]
        get = fact.get
        if kind == "objective":
            oid = _string(fact["id"])
            append(f"objective({oid},{_word(get('aim'))},{_word(get('target'))},"
                   f"{_word(get('occupation'))},{_string(get('jurisdiction'))}).")
            if get("indicator") is not None:
                append(f"indicator({oid}).")
        elif kind == "measure":
            append(f"measure({_string(fact['id'])},{_word(get('area'))},{_word(get('effect'))},"
                   f"{_word(get('occupation'))},{_string(get('jurisdiction'))}).")
        elif kind == "role":
            append(f"role({_string(fact['id'])},{_word(get('area'))},{_word(get('role'))},"
                   f"{_string(get('jurisdiction'))}).")
    return "\n".join(lines)


def _value(symbol: clingo.Symbol):
    return symbol.string if symbol.type == clingo.SymbolType.String else symbol.name


def run(facts: list[dict]) -> set[tuple]:
    control = clingo.Control(["--warn=none"])
    control.add("base", [], PROGRAM)
    control.add("base", [], facts_program(facts))
    control.ground([("base", [])])
    findings: set[tuple] = set()

    def on_model(model: clingo.Model) -> None:
        for symbol in model.symbols(shown=True):
            findings.add((symbol.name.upper(), *(_value(arg) for arg in symbol.arguments)))

    control.solve(on_model=on_model)
    return findings
