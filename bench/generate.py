"""Synthetic policy sets for the benchmarks.

`generate(n, seed)` returns the text of a policy set of exactly `n` facts in the coherence
language; `generate_facts(n, seed)` returns the same facts as flat dicts, the shape the peer
engines of `bench/engines/` take: `{"type": ..., "id": ..., field: value, ...}`, with references
as ids and `jurisdiction` already filled on objectives and measures (from their instrument) and on
roles (from their actor), so that no engine needs the inheritance step.

The policy sets look like real inventories rather than random noise:

- jurisdictions are national (ISO3-like ids) and subnational (with a `parent`); their sizes follow
  a Zipf-like law, so a few jurisdictions hold most instruments;
- every instrument belongs to a jurisdiction and an owning actor; objectives and measures belong to
  instruments and inherit their jurisdiction;
- occupations are skewed (nurses and care workers are common, seafarers rare);
- each jurisdiction has a stance per occupation (it either wants more of that occupation at home
  or keeps a lid on it), and background objectives and measures follow the stance, so the set is
  mostly coherent; conflicts are then injected on purpose, a few percent of the facts;
- a country's background measures follow one direction per area (the entry areas, admission,
  visa, labour migration and recruitment, counting as one), in its regions too: it restricts or
  facilitates, not both, and its objectives on inflows, outflows and returns aim the same way, so
  that conflicts between measures and with objectives come from the injected ones;
- a jurisdiction does not state the same workforce objective dozens of times: at most a few
  objectives ask for more of one occupation in one jurisdiction, which keeps the number of
  findings roughly proportional to the number of facts as sizes grow;
- most areas a jurisdiction acts in have a lead role; some do not; some objectives have no
  indicator.

Only the types, fields and enum members of the built-in schema are used. The output depends on
`n` and `seed` only (no hash-order or clock dependence).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import random
import sys
from pathlib import Path

# Enum members of the built-in schema (CRITERIA.md), in the order used for skewed choices.
OCCUPATIONS = [
    "nurse", "care_worker", "doctor", "construction_worker", "ict_specialist", "teacher",
    "domestic_worker", "farm_worker", "midwife", "engineer", "pharmacist", "seafarer",
]
SECTORS = [
    "health", "employment", "labour", "education", "economy", "home_affairs", "social_welfare",
    "finance", "development", "foreign_affairs", "trade", "agriculture", "housing", "ict",
    "investment", "justice", "environment",
]
GROUPS = [
    "workers", "high_skilled_workers", "low_skilled_workers", "health_workers", "students",
    "family_members", "refugees", "asylum_seekers", "domestic_workers", "children", "diaspora",
    "irregular_migrants", "investors", "all",
]
ACTOR_KINDS = {
    "ministry": 30, "agency": 22, "local_government": 8, "subnational_government": 5,
    "coordination_mechanism": 4, "civil_society": 6, "private_sector": 5, "trade_union": 4,
    "employer_association": 4, "diaspora_association": 3, "migrant_association": 2,
    "academia": 3, "international_organization": 3, "parliament": 1,
}
INSTRUMENT_KINDS = {
    "regulation": 22, "law": 14, "strategy": 16, "policy": 14, "plan": 14, "programme": 10,
    "agreement": 4, "memorandum": 4, "convention": 2,
}
AIMS = {"increase": 55, "maintain": 18, "protect": 15, "decrease": 12}
TARGETS = {
    "workforce": 35, "inflow": 10, "integration": 10, "protection": 8, "return": 7,
    "remittances": 7, "investment": 7, "outflow": 6, "enrolment": 6, "remittance_cost": 4,
}
MEASURE_AREAS = {
    "admission": 12, "labour_migration": 10, "visa": 8, "recruitment": 8, "integration": 8,
    "emigration": 6, "border": 5, "return": 5, "asylum": 4, "education": 4, "health_access": 4,
    "employment_access": 4, "family_reunion": 3, "remittances": 3, "diaspora": 3,
    "anti_trafficking": 3, "protection": 3, "reintegration": 2, "readmission": 2,
    "citizenship": 1, "detention": 1,
}
EFFECTS = {"facilitate": 30, "restrict": 22, "require": 18, "fund": 12, "inform": 10, "prohibit": 8}
ROLE_KINDS_OTHER = {"focal_point": 3, "delivery": 5, "member": 2}

ADMISSION_AREAS = ("admission", "visa", "labour_migration")
#: The areas MEASURE-CONFLICT compares with one another (core.rules): a country's direction in them is one.
ENTRY_AREAS = ("admission", "visa", "labour_migration", "recruitment")
RESTRICTIVE = ("restrict", "prohibit")

NATIONAL_IDS = [
    "MUS", "PHL", "KEN", "IND", "MEX", "NGA", "GHA", "ZAF", "LKA", "NPL", "BGD", "PAK", "IDN",
    "VNM", "THA", "MYS", "SGP", "ARE", "QAT", "SAU", "KWT", "OMN", "JOR", "LBN", "EGY", "MAR",
    "TUN", "SEN", "ETH", "UGA", "TZA", "RWA", "ZMB", "ZWE", "MOZ", "MDG", "CAN", "USA", "GBR",
    "IRL", "DEU", "FRA", "ITA", "ESP", "PRT", "NLD", "BEL", "SWE", "NOR", "FIN", "DNK", "POL",
    "ROU", "MDA", "UKR", "GEO", "ARM", "KGZ", "TJK", "UZB", "AUS", "NZL", "FJI", "WSM", "TON",
    "JPN", "KOR", "CHN", "BRA", "ARG", "COL", "PER", "ECU", "BOL", "GTM", "HND", "SLV", "DOM",
    "JAM", "TTO", "HTI", "CUB", "CHL", "URY", "PRY", "VEN", "CRI", "PAN", "NIC", "BLZ", "GUY",
    "SUR", "CMR", "CIV", "MLI", "BFA", "NER", "TCD", "SDN", "SSD", "SOM", "DJI", "ERI", "LBR",
    "SLE", "GIN", "GMB", "CPV", "BEN", "TGO", "GAB", "COG", "COD", "AGO", "NAM", "BWA", "LSO",
    "SWZ", "MWI", "BDI", "COM", "SYC", "MDV", "BTN", "MMR", "KHM", "LAO", "MNG", "TLS",
]

INDICATORS = [
    "registered {occ}s per 1,000 inhabitants",
    "vacancy rate for {occ}s (%)",
    "annual graduates of {occ} training programmes",
    "share of {occ}s trained abroad",
    "number of work permits issued",
    "median processing time of applications (days)",
    "remittance cost for sending USD 200 (%)",
    "share of returnees reintegrated after 12 months",
    "share of \"decent work\" contracts among migrant workers",
    "number of complaints resolved within 90 days",
]
MEASURE_TITLES = {
    "restrict": "Limits on {what}",
    "prohibit": "Ban on {what}",
    "facilitate": "Simplified procedures for {what}",
    "require": "Conditions for {what}",
    "fund": "Funding for {what}",
    "inform": "Information campaign on {what}",
}


def _weighted(rng: random.Random, table: dict[str, int]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


class _Zipf:
    """Draws ranks 0..n-1 with probability proportional to 1 / (rank + 1) ** s."""

    def __init__(self, n: int, s: float):
        self.cumulative = list(itertools.accumulate(1.0 / (k + 1) ** s for k in range(n)))

    def draw(self, rng: random.Random) -> int:
        x = rng.random() * self.cumulative[-1]
        return min(bisect.bisect_right(self.cumulative, x), len(self.cumulative) - 1)


def _occupation_weights(candidates: list[str]) -> list[float]:
    return [1.0 / (OCCUPATIONS.index(occ) + 1) ** 1.1 for occ in candidates]


def _pick_occupation(rng: random.Random, candidates: list[str]) -> str | None:
    if not candidates:
        return None
    return rng.choices(candidates, weights=_occupation_weights(candidates))[0]


def _date(rng: random.Random) -> str:
    year = rng.randint(2005, 2024)
    form = rng.random()
    if form < 0.6:
        return f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if form < 0.8:
        return f"{year}-{rng.randint(1, 12):02d}"
    return str(year)


def _sizes(n: int) -> dict[str, int]:
    """How many facts of each written type a set of `n` facts gets (roles take the remainder)."""
    if n < 20:
        raise ValueError("a benchmark policy set needs at least 20 facts")
    jurisdictions = max(2, min(500, max(50, n // 200), n // 20))
    actors = max(jurisdictions, round(n * 0.06))
    instruments = max(jurisdictions, round(n * 0.04))
    objectives = round(n * 0.33)
    return {"jurisdiction": jurisdictions, "actor": actors, "instrument": instruments,
            "objective": objectives}


def generate_facts(n_facts: int, seed: int = 1) -> list[dict]:
    """Exactly `n_facts` facts as flat dicts, jurisdiction filled on objectives, measures, roles.

    The order is the order of the text `generate` writes: jurisdictions, actors, roles, then each
    instrument followed by its objectives and measures.
    """
    rng = random.Random(f"coherence-bench:{n_facts}:{seed}")
    sizes = _sizes(n_facts)

    # Jurisdictions: a quarter national (the largest), the rest subnational regions of them.
    n_jur = sizes["jurisdiction"]
    n_national = max(1, min(len(NATIONAL_IDS), math.ceil(n_jur / 4)))
    jurisdictions: list[dict] = []
    for k in range(n_national):
        iso = NATIONAL_IDS[k]
        fact = {"type": "jurisdiction", "id": iso, "level": "national", "iso3": iso}
        if rng.random() < 0.15:
            fact["safeguard_list"] = True
        jurisdictions.append(fact)
    for k in range(n_jur - n_national):
        parent = NATIONAL_IDS[k % n_national]
        jurisdictions.append({
            "type": "jurisdiction", "id": f"{parent}-{k // n_national + 1:02d}",
            "title": f"Region {k // n_national + 1} of {parent}",
            "level": "subnational", "parent": parent,
        })
    jur_ids = [j["id"] for j in jurisdictions]
    jur_size = _Zipf(n_jur, 0.9)

    # A stance per jurisdiction and occupation: about a third of occupations are kept in check.
    restricted: dict[str, list[str]] = {}
    expanded: dict[str, list[str]] = {}
    for jid in jur_ids:
        restricted[jid] = [occ for occ in OCCUPATIONS if rng.random() < 0.3]
        expanded[jid] = [occ for occ in OCCUPATIONS if occ not in restricted[jid]]

    # Actors: at least one per jurisdiction, the rest where the policies are.
    actors: list[dict] = []
    actors_of: dict[str, list[str]] = {jid: [] for jid in jur_ids}
    for k in range(sizes["actor"]):
        jid = jur_ids[k] if k < n_jur else jur_ids[jur_size.draw(rng)]
        kind = "ministry" if k < n_jur else _weighted(rng, ACTOR_KINDS)
        aid = f"{jid}.{kind[:3].upper()}{len(actors_of[jid]) + 1}"
        fact = {"type": "actor", "id": aid, "kind": kind, "jurisdiction": jid}
        if kind == "ministry":
            fact["title"] = f"Ministry of {rng.choice(SECTORS).replace('_', ' ').title()}"
        actors.append(fact)
        actors_of[jid].append(aid)

    # Instruments: at least one per jurisdiction, the rest Zipf-distributed.
    instruments: list[dict] = []
    count_of: dict[str, int] = {}
    for k in range(sizes["instrument"]):
        jid = jur_ids[k] if k < n_jur else jur_ids[jur_size.draw(rng)]
        kind = _weighted(rng, INSTRUMENT_KINDS)
        count_of[jid] = count_of.get(jid, 0) + 1
        iid = f"{jid}.{kind[:3].upper()}{count_of[jid]}"
        fact = {"type": "instrument", "id": iid, "kind": kind, "jurisdiction": jid}
        if rng.random() < 0.8:
            fact["title"] = f"{kind.title()} on {rng.choice(SECTORS).replace('_', ' ')} {rng.randint(2005, 2024)}"
        if rng.random() < 0.85:
            fact["owner"] = rng.choice(actors_of[jid])
        if rng.random() < 0.7:
            fact["in_force"] = _date(rng)
        if rng.random() < 0.15:
            fact["until"] = f"{rng.randint(2020, 2032)}-12-31"
        if rng.random() < 0.5:
            fact["cite"] = f"{jid} {kind} no. {rng.randint(1, 400)}/{rng.randint(2005, 2024)}"
        instruments.append(fact)
    inst_size = _Zipf(len(instruments), 0.3)  # some instruments are much longer than others
    inst_order = list(range(len(instruments)))
    rng.shuffle(inst_order)  # so the long instruments are not all in the largest jurisdictions

    def pick_instrument() -> dict:
        return instruments[inst_order[inst_size.draw(rng)]]

    items_of: dict[str, list[dict]] = {i["id"]: [] for i in instruments}

    numbers: dict[tuple[str, str], int] = {}

    def add_item(inst: dict, fact: dict, prefix: str) -> None:
        key = (inst["id"], prefix)
        numbers[key] = numbers.get(key, 0) + 1
        fact["id"] = f"{inst['id']}.{prefix}{numbers[key]}"
        items_of[inst["id"]].append(fact)

    # A country's direction per area (the entry areas counting as one), drawn when first needed:
    # its background objectives and measures, national and regional, follow it.
    closed: dict[tuple[str, str], bool] = {}  # (country, area) -> restrictive direction

    def is_closed(jid: str, area: str) -> bool:
        key = (jid.split("-")[0], "entry" if area in ENTRY_AREAS else area)
        if key not in closed:
            closed[key] = rng.random() < 0.35
        return closed[key]

    # Objectives.
    workforce_objectives: dict[tuple[str, str], int] = {}  # (occupation, jurisdiction) -> count
    for _ in range(sizes["objective"]):
        inst = pick_instrument()
        jid = inst["jurisdiction"]
        aim, target = _weighted(rng, AIMS), _weighted(rng, TARGETS)
        occupation = None
        if target == "workforce" and rng.random() < 0.75:
            if aim == "increase":
                occupation = _pick_occupation(rng, expanded[jid])
                if occupation is not None:
                    key = (occupation, jid)
                    if workforce_objectives.get(key, 0) >= 3:
                        aim = "maintain"  # a jurisdiction states "more nurses" only so often
                    else:
                        workforce_objectives[key] = workforce_objectives.get(key, 0) + 1
            elif aim == "decrease":
                occupation = _pick_occupation(rng, restricted[jid])
            else:
                occupation = _pick_occupation(rng, OCCUPATIONS)
        elif rng.random() < 0.1:
            occupation = _pick_occupation(rng, OCCUPATIONS)
        # objectives on flows follow the country's direction in the areas that move them
        if target == "inflow" and aim in ("increase", "decrease"):
            aim = "decrease" if is_closed(jid, "admission") else "increase"
        elif target == "outflow" and aim in ("increase", "decrease"):
            aim = "decrease" if is_closed(jid, "emigration") else "increase"
        elif target == "return" and aim == "increase" and (is_closed(jid, "return") or is_closed(jid, "reintegration")):
            aim = "maintain"
        fact = {"type": "objective", "id": "", "instrument": inst["id"], "jurisdiction": jid}
        if rng.random() < 0.6:
            what = occupation.replace("_", " ") + "s" if occupation else target.replace("_", " ")
            fact["title"] = f"{aim.title()} {what}"
        if rng.random() < 0.8:
            fact["sector"] = "health" if occupation in ("nurse", "doctor", "midwife", "pharmacist", "care_worker") \
                else rng.choice(SECTORS)
        if target == "integration" and rng.random() < 0.5:
            fact["area"] = "integration"
        fact["aim"] = aim
        fact["target"] = target
        if occupation:
            fact["occupation"] = occupation
        if rng.random() < 0.2:
            fact["group"] = rng.choice(GROUPS)
        if rng.random() < 0.92:
            fact["indicator"] = rng.choice(INDICATORS).format(occ=(occupation or "worker").replace("_", " "))
        if rng.random() < 0.7:
            fact["cite"] = f"{inst['id']}, section {rng.randint(1, 12)}.{rng.randint(1, 9)}"
        add_item(inst, fact, "O")

    # Measures, then roles: a lead for most (area, jurisdiction) pairs in use. Measures stop when
    # the leads still owed and a few other roles would overflow the budget.
    fixed = sizes["jurisdiction"] + sizes["actor"] + sizes["instrument"] + sizes["objective"]
    other_roles_min = max(1, round(n_facts * 0.01))
    injected: dict[tuple[str, str], int] = {}
    pairs_in_use: dict[tuple[str, str], bool] = {}  # (area, jurisdiction) -> has a lead
    n_measures = n_leads = 0
    while fixed + n_measures + n_leads + other_roles_min < n_facts:
        inst = pick_instrument()
        jid = inst["jurisdiction"]
        roll = rng.random()
        area, effect, occupation = _weighted(rng, MEASURE_AREAS), _weighted(rng, EFFECTS), None
        candidates = [occ for occ in expanded[jid] if workforce_objectives.get((occ, jid))
                      and injected.get((occ, jid), 0) < 2]
        background = False
        if roll < 0.03 and candidates:  # injected conflict with a workforce objective (R1)
            area, effect = rng.choice(ADMISSION_AREAS), rng.choice(RESTRICTIVE)
            occupation = _pick_occupation(rng, candidates)
            injected[(occupation, jid)] = injected.get((occupation, jid), 0) + 1
        elif roll < 0.045 and candidates:  # injected emigration drain (R2)
            area, effect = "emigration", "facilitate"
            occupation = _pick_occupation(rng, candidates)
            injected[(occupation, jid)] = injected.get((occupation, jid), 0) + 1
        else:
            background = True
            # the background follows the country's direction in the area (entry areas together):
            # its measures, national and regional, do not pull one migration both ways
            if is_closed(jid, area) and effect == "facilitate":
                effect = "restrict"
            elif not is_closed(jid, area) and effect in RESTRICTIVE:
                effect = "facilitate"
        if background and rng.random() < 0.55:
            if area in ADMISSION_AREAS and effect in RESTRICTIVE or area == "emigration" and effect == "facilitate":
                occupation = _pick_occupation(rng, restricted[jid])
            else:
                occupation = _pick_occupation(rng, OCCUPATIONS)
        fact = {"type": "measure", "id": "", "instrument": inst["id"], "jurisdiction": jid}
        what = occupation.replace("_", " ") + "s" if occupation else area.replace("_", " ")
        if rng.random() < 0.6:
            fact["title"] = MEASURE_TITLES[effect].format(what=what)
        fact["area"] = area
        fact["effect"] = effect
        if occupation:
            fact["occupation"] = occupation
        if rng.random() < 0.3:
            fact["group"] = "health_workers" if occupation in ("nurse", "doctor", "midwife") else rng.choice(GROUPS)
        if rng.random() < 0.7:
            fact["delivered_by"] = rng.choice(actors_of[jid])
        if rng.random() < 0.3:
            fact["funded"] = rng.random() < 0.7
        if occupation and rng.random() < 0.5:
            fact["evidence"] = f"labour market survey {rng.randint(2010, 2024)}"
        if rng.random() < 0.7:
            fact["cite"] = f"{inst['id']}, art. {rng.randint(1, 90)}"
        add_item(inst, fact, "A")
        n_measures += 1
        if (area, jid) not in pairs_in_use:
            has_lead = rng.random() < 0.9
            pairs_in_use[(area, jid)] = has_lead
            n_leads += has_lead

    roles: list[dict] = []
    role_count: dict[str, int] = {}

    def add_role(actor_id: str, jid: str, area: str, kind: str) -> None:
        role_count[actor_id] = role_count.get(actor_id, 0) + 1
        roles.append({"type": "role", "id": f"{actor_id}.R{role_count[actor_id]}", "actor": actor_id,
                      "area": area, "role": kind, "jurisdiction": jid})

    for (area, jid), has_lead in pairs_in_use.items():
        if has_lead:
            add_role(rng.choice(actors_of[jid]), jid, area, "lead")
    area_names = list(MEASURE_AREAS)
    while len(roles) < n_facts - fixed - n_measures:
        jid = jur_ids[jur_size.draw(rng)]
        add_role(rng.choice(actors_of[jid]), jid, rng.choice(area_names), _weighted(rng, ROLE_KINDS_OTHER))

    facts = jurisdictions + actors + roles
    for inst in instruments:
        facts.append(inst)
        facts.extend(items_of[inst["id"]])
    assert len(facts) == n_facts, (len(facts), n_facts)
    return facts


# Fields written in the text, per type, in this order; `jurisdiction` of objectives, measures and
# roles is left out because it is inherited.
_WRITTEN_FIELDS = {
    "jurisdiction": ["level", "parent", "iso3", "safeguard_list"],
    "actor": ["kind", "jurisdiction"],
    "role": ["actor", "area", "role"],
    "instrument": ["kind", "jurisdiction", "owner", "in_force", "until", "cite"],
    "objective": ["instrument", "sector", "area", "aim", "target", "occupation", "group", "indicator", "cite"],
    "measure": ["instrument", "area", "effect", "occupation", "group", "delivered_by", "funded",
                "evidence", "cite"],
}
_STRING_FIELDS = {"iso3", "cite", "indicator", "evidence"}
_MULTILINE = {"instrument", "objective", "measure"}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(field: str, value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if field in _STRING_FIELDS:
        return _quote(value)
    return str(value)


def render_fact(fact: dict) -> str:
    """One fact in the coherence language."""
    header = f"{fact['type']} {fact['id']}"
    if "title" in fact:
        header += " " + _quote(fact["title"])
    fields = [(name, _value(name, fact[name])) for name in _WRITTEN_FIELDS[fact["type"]] if name in fact]
    if fact["type"] in _MULTILINE:
        body = "".join(f"  {name}: {value}\n" for name, value in fields)
        return f"{header} {{\n{body}}}\n"
    return f"{header} {{ " + "  ".join(f"{name}: {value}" for name, value in fields) + " }\n"


def generate(n_facts: int, seed: int = 1) -> str:
    """A policy set of exactly `n_facts` facts, as `.policy` text."""
    facts = generate_facts(n_facts, seed)
    parts = [f"# Synthetic policy set for the coherence benchmarks: {n_facts} facts, seed {seed}.\n"]
    previous = None
    for fact in facts:
        if fact["type"] != previous or fact["type"] == "instrument":
            parts.append("\n")
            previous = fact["type"]
        parts.append(render_fact(fact))
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic policy set of N facts.")
    parser.add_argument("n", type=int, help="number of facts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="output file (default: stdout)")
    args = parser.parse_args(argv)
    text = generate(args.n, args.seed)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
