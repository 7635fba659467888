"""The floor: the four benchmark rules as plain Python hash joins over dicts.

No engine can be expected to beat this; it is the baseline every other engine is compared with,
and the reference answer they must all agree with.
"""

from __future__ import annotations

ADMISSION_AREAS = frozenset(("admission", "visa", "labour_migration"))
RESTRICTIVE = frozenset(("restrict", "prohibit"))


def run(facts: list[dict]) -> set[tuple]:
    objectives = []
    restrictions: dict[tuple, list[str]] = {}  # (occupation, jurisdiction) -> measure ids (R1)
    pressure: set[tuple] = set()  # (occupation, jurisdiction, direction) (R2, derived)
    areas_in_use: set[tuple] = set()  # (area, jurisdiction) (R4, derived)
    leads: set[tuple] = set()  # (area, jurisdiction) with a lead role (R4)

    for fact in facts:
        kind = fact["type"]
        if kind == "objective":
            objectives.append(fact)
        elif kind == "measure":
            area, jurisdiction = fact.get("area"), fact.get("jurisdiction")
            occupation = fact.get("occupation")
            if jurisdiction is None:
                continue
            if area is not None:
                areas_in_use.add((area, jurisdiction))
            if occupation is None:
                continue
            effect = fact.get("effect")
            if area in ADMISSION_AREAS and effect in RESTRICTIVE:
                restrictions.setdefault((occupation, jurisdiction), []).append(fact["id"])
            elif area == "emigration" and effect == "facilitate":
                pressure.add((occupation, jurisdiction, "decrease"))
        elif kind == "role":
            if fact.get("role") == "lead" and fact.get("jurisdiction") is not None:
                leads.add((fact.get("area"), fact["jurisdiction"]))

    findings: set[tuple] = set()
    for objective in objectives:
        oid = objective["id"]
        if objective.get("indicator") is None:
            findings.add(("R3", oid))
        if objective.get("aim") != "increase" or objective.get("target") != "workforce":
            continue
        occupation, jurisdiction = objective.get("occupation"), objective.get("jurisdiction")
        if occupation is None or jurisdiction is None:
            continue
        for mid in restrictions.get((occupation, jurisdiction), ()):
            findings.add(("R1", oid, mid))
        if (occupation, jurisdiction, "decrease") in pressure:
            findings.add(("R2", oid, occupation, jurisdiction))
    for area, jurisdiction in areas_in_use - leads:
        findings.add(("R4", area, jurisdiction))
    return findings
