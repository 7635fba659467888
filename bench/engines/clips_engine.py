"""The four benchmark rules in CLIPS (through clipspy): deftemplates, defrules, facts, run.

Facts are asserted through clipspy's template fact builders. Findings are asserted as ordered facts
(`r1`..`r4`) and read back after `run`. CLIPS refuses duplicate facts, so identical derived facts
are one fact; its Rete network keeps `not` correct whatever the order facts arrive in.
"""

from __future__ import annotations

import clips

CONSTRUCTS = """
(deftemplate objective (slot id) (slot aim) (slot target) (slot occupation) (slot jurisdiction)
                       (slot indicator))
(deftemplate measure (slot id) (slot area) (slot effect) (slot occupation) (slot jurisdiction))
(deftemplate role (slot id) (slot area) (slot role) (slot jurisdiction))
(deftemplate pressure (slot occupation) (slot jurisdiction) (slot direction))
(deftemplate area_in_use (slot area) (slot jurisdiction))

; R1 two-way conflict join (ADM-SECTOR)
(defrule r1
  (objective (id ?o) (aim increase) (target workforce) (occupation ?x&~nil) (jurisdiction ?j&~nil))
  (measure (id ?m) (area admission|visa|labour_migration) (effect restrict|prohibit)
           (occupation ?x) (jurisdiction ?j))
  =>
  (assert (r1 ?o ?m)))

; R2 derived fact and a join on it (WORKFORCE-DRAIN via pressure)
(defrule bench-pressure
  (measure (area emigration) (effect facilitate) (occupation ?x&~nil) (jurisdiction ?j&~nil))
  =>
  (assert (pressure (occupation ?x) (jurisdiction ?j) (direction decrease))))
(defrule r2
  (objective (id ?o) (aim increase) (target workforce) (occupation ?x) (jurisdiction ?j))
  (pressure (occupation ?x) (jurisdiction ?j) (direction decrease))
  =>
  (assert (r2 ?o ?x ?j)))

; R3 single-fact absence (OBJ-NO-INDICATOR)
(defrule r3
  (objective (id ?o) (indicator nil))
  =>
  (assert (r3 ?o)))

; R4 cross-fact negation (INST-NO-LEAD)
(defrule bench-area-in-use
  (measure (area ?a&~nil) (jurisdiction ?j&~nil))
  =>
  (assert (area_in_use (area ?a) (jurisdiction ?j))))
(defrule r4
  (area_in_use (area ?a) (jurisdiction ?j))
  (not (role (area ?a) (role lead) (jurisdiction ?j)))
  =>
  (assert (r4 ?a ?j)))
"""


NIL = clips.Symbol("nil")
PRESENT = clips.Symbol("yes")


def _assert_facts(env: clips.Environment, facts: list[dict]) -> None:
    """Assert the facts through template fact builders (enums as symbols, ids as strings).

    This is several times faster than `load-facts` or `assert-string`, which parse text.
    """
    objective = env.find_template("objective").assert_fact
    measure = env.find_template("measure").assert_fact
    role = env.find_template("role").assert_fact
    symbols: dict = {None: NIL}

    def symbol(value):
        found = symbols.get(value)
        if found is None:
            found = symbols[value] = clips.Symbol(value)
        return found

    for fact in facts:
        kind = fact["type"]
        get = fact.get
        if kind == "objective":
            # Only the presence of the indicator matters to the rules.
            objective(id=fact["id"], aim=symbol(get("aim")), target=symbol(get("target")),
                      occupation=symbol(get("occupation")), jurisdiction=get("jurisdiction") or NIL,
                      indicator=NIL if get("indicator") is None else PRESENT)
        elif kind == "measure":
            measure(id=fact["id"], area=symbol(get("area")), effect=symbol(get("effect")),
                    occupation=symbol(get("occupation")), jurisdiction=get("jurisdiction") or NIL)
        elif kind == "role":
            role(id=fact["id"], area=symbol(get("area")), role=symbol(get("role")),
                 jurisdiction=get("jurisdiction") or NIL)


def run(facts: list[dict]) -> set[tuple]:
    env = clips.Environment()
    for construct in _constructs():
        env.build(construct)
    _assert_facts(env, facts)
    env.run()
    findings: set[tuple] = set()
    for name in ("r1", "r2", "r3", "r4"):
        for fact in env.find_template(name).facts():
            findings.add((name.upper(), *(str(value) for value in fact)))
    return findings


def _constructs() -> list[str]:
    """CONSTRUCTS split into top-level constructs (`Environment.build` takes one at a time)."""
    constructs, depth, start = [], 0, None
    text = "\n".join(line.split(";", 1)[0] for line in CONSTRUCTS.splitlines())
    for position, char in enumerate(text):
        if char == "(":
            if depth == 0:
                start = position
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                constructs.append(text[start:position + 1])
    return constructs
