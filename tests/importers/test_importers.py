"""Importers: `coherence import csv|demig|impic` (coherence_rules.importers).

Small fixture CSVs are written into tmp_path by each test; the tests on the real DEMIG and IMPIC
files run only when the shared data directory next to the repository is present.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coherence_rules.importers import FORMATS, ImportFailure, OutputExists, run_import
from coherence_rules.syntax import ast as A
from coherence_rules.syntax.parser import parse_source
from coherence_rules.importers.csv_inventory import format_cell, format_scalar, one_line, quote
from coherence_rules.importers.impic import INDICES

REPO = Path(__file__).resolve().parents[2]
REAL = REPO.parent / "shared" / "data" / "real"
DEMIG_REAL = REAL / "demig_policy_v1.3_germany_turkey.csv"
IMPIC_REAL = REAL / "impic_v2_1980_2018.csv"
IMPIC_CODEBOOK = REAL / "impic_v2_1980_2018_codebook.csv"
real_data = pytest.mark.skipif(not REAL.is_dir(), reason="the real data sets are not available")


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---- the package --------------------------------------------------------------------------------

def test_formats_are_the_three_documented_ones():
    assert sorted(FORMATS) == ["csv", "demig", "impic"]


def test_import_failure_carries_file_line_and_column():
    err = ImportFailure("bad cell", "in.csv", 4)
    assert isinstance(err, Exception)
    assert (err.message, err.file, err.line, err.column) == ("bad cell", "in.csv", 4, 1)
    assert str(err) == "in.csv:4:1: bad cell"
    assert ImportFailure("x", Path("a.csv"), 2, 7).column == 7


def test_unknown_format_is_an_import_failure(tmp_path):
    src = write(tmp_path / "a.csv", "type,id,title\n")
    with pytest.raises(ImportFailure, match="unknown import format 'xlsx'"):
        run_import("xlsx", src, tmp_path / "out")


# ---- value formatting ---------------------------------------------------------------------------

@pytest.mark.parametrize("cell, written", [
    ("national", "national"),
    ("HSS.2.1", "HSS.2.1"),
    ("PH-SA-2013.A7", "PH-SA-2013.A7"),
    ("_x", "_x"),
    ("true", "true"),
    ("false", "false"),
    ("True", "True"),
    ("-2", "-2"),
    ("+2", "+2"),
    ("0.5", "0.5"),
    ("2018", "2018"),
    ("2018-06", "2018-06"),
    ("2018-06-01", "2018-06-01"),
    ("1.5.3", '"1.5.3"'),
    (".5", '".5"'),
    ("2A", '"2A"'),
    ("two words", '"two words"'),
    ("Ministry of Health", '"Ministry of Health"'),
    ('say "no"', '"say \\"no\\""'),
    ("C:\\temp", '"C:\\\\temp"'),
    ("line one\nline two", '"line one line two"'),
    ("a \r\n  b", '"a b"'),
    ("é", '"é"'),
])
def test_format_scalar(cell, written):
    assert format_scalar(cell) == written


def test_format_cell_lists():
    assert format_cell("admission;visa", False) == "[admission, visa]"
    assert format_cell(" admission ; visa ; ", False) == "[admission, visa]"
    assert format_cell("MU;", False) == "[MU]"
    assert format_cell("MU", True) == "[MU]"
    assert format_cell("MU", False) == "MU"
    assert format_cell("a b;2018;x", False) == '["a b", 2018, x]'


def test_quote_never_spans_lines():
    text = quote("a\u2028b\x0bc\n\nd")
    assert "\n" not in text and text == '"a b c d"'


# ---- csv ----------------------------------------------------------------------------------------

INVENTORY = (
    "type,id,title,level,kind,jurisdiction,in_force,indicator,origin,areas,funded,score\r\n"
    "jurisdiction,MU,Republic of Mauritius,national,,,,,,,,\r\n"
    'instrument,HSS,"Health ""Sector"" Plan",,strategy,MU,2020-01-01,"nurses per 1,000\n'
    'inhabitants",,,true,-2\r\n'
    "\r\n"
    "measure,WPR.7,,,,,,C:\\x,MU,admission;visa,false,0.5\r\n"
)


def expected_inventory(src: Path) -> str:
    return (
        f"# Policy inventory imported from inv.csv (sha256 {sha(src)})\n"
        "# Citation: the inventory's own; each fact's cite field where the inventory has one\n"
        "# Produced by: coherence import csv inv.csv\n"
        '# Values are written by their shape (bare word, number, date, true/false, "string");\n'
        "# the schema types them when the file is checked (coherence lint, coherence check).\n"
        "\n"
        "# inv.csv line 2\n"
        'jurisdiction MU "Republic of Mauritius" {\n'
        "  level: national\n"
        "}\n"
        "\n"
        "# inv.csv line 3\n"
        'instrument HSS "Health \\"Sector\\" Plan" {\n'
        "  kind: strategy\n"
        "  jurisdiction: MU\n"
        "  in_force: 2020-01-01\n"
        '  indicator: "nurses per 1,000 inhabitants"\n'
        "  funded: true\n"
        "  score: -2\n"
        "}\n"
        "\n"
        "# inv.csv line 6\n"
        "measure WPR.7 {\n"
        '  indicator: "C:\\\\x"\n'
        "  origin: [MU]\n"
        "  areas: [admission, visa]\n"
        "  funded: false\n"
        "  score: 0.5\n"
        "}\n"
        "\n"
    )


def test_csv_inventory_exact_output(tmp_path):
    src = write(tmp_path / "inv.csv", INVENTORY)
    written = run_import("csv", src, tmp_path / "out")
    assert written == [tmp_path / "out" / "inv.policy"]
    assert written[0].read_text(encoding="utf-8") == expected_inventory(src)


def test_csv_inventory_accepts_a_byte_order_mark_and_no_title_column(tmp_path):
    src = tmp_path / "bom.csv"
    src.write_bytes("\ufefftype,id,level\njurisdiction,KE,national\n".encode("utf-8"))
    [out] = run_import("csv", src, tmp_path / "out")
    assert out.read_text(encoding="utf-8").endswith(
        "# bom.csv line 2\njurisdiction KE {\n  level: national\n}\n\n")


def test_csv_inventory_quotes_the_built_in_string_fields(tmp_path):
    src = write(tmp_path / "s.csv", (
        "type,id,title,level,iso3,cite,indicator,note\n"
        "jurisdiction,MU,,national,MUS,Act 12; s. 3,,a;b\n"
        "objective,O,,,,,nurses,\n"
    ))
    [out] = run_import("csv", src, tmp_path / "out")
    text = out.read_text(encoding="utf-8")
    assert '  iso3: "MUS"\n  cite: "Act 12; s. 3"\n  note: [a, b]\n' in text
    assert '  indicator: "nurses"\n' in text


def test_csv_inventory_fact_without_fields(tmp_path):
    src = write(tmp_path / "f.csv", "type,id,title,level\njurisdiction,KE,,\n")
    [out] = run_import("csv", src, tmp_path / "out")
    assert out.read_text(encoding="utf-8").endswith("jurisdiction KE {}\n\n")


@pytest.mark.parametrize("text, line, message", [
    ("kind,title\nx,y\n", 1, "missing columns 'type', 'id'"),
    ("type,id,title\nmeasure,,x\n", 2, "the 'id' cell is empty"),
    ("type,id,title\nmeasure,2X,x\n", 2, "'2X' in column 'id' is not a fact id"),
    ("type,id,title\nMeasure,X,x\n", 2, "'Measure' in column 'type' is not a type name"),
    ("type,id,title,In Force\nmeasure,X,x,2020\n", 1, "column 'In Force' is not a field name"),
    ("type,id,title,id\nmeasure,X,x,Y\n", 1, "the header names column 'id' twice"),
    ("type,id,title\nmeasure,X,x\nmeasure,Y,y,extra\n", 3, "this row has 4 cells but the header has 3"),
    ("type,id,title\nmeasure,X,\"unclosed\n", 2, "malformed CSV"),
    ("", 1, "the file is empty"),
])
def test_csv_inventory_failures(tmp_path, text, line, message):
    src = write(tmp_path / "bad.csv", text)
    with pytest.raises(ImportFailure) as caught:
        run_import("csv", src, tmp_path / "out")
    assert message in caught.value.message
    assert (caught.value.file, caught.value.line) == (str(src), line)
    assert not (tmp_path / "out").exists()


def test_non_utf8_input_points_at_the_bad_byte(tmp_path):
    src = tmp_path / "latin1.csv"
    src.write_bytes("type,id,title\r\nactor,MOH,Ministère\r\n".encode("latin-1"))
    with pytest.raises(ImportFailure) as caught:
        run_import("csv", src, tmp_path / "out")
    err = caught.value
    assert "not UTF-8" in err.message and "0xe8" in err.message
    assert (err.line, err.column) == (2, len("actor,MOH,Minist") + 1)


def test_unreadable_input(tmp_path):
    with pytest.raises(ImportFailure, match="cannot read the file") as caught:
        run_import("csv", tmp_path / "missing.csv", tmp_path / "out")
    assert caught.value.file == str(tmp_path / "missing.csv")
    with pytest.raises(ImportFailure, match="cannot read the file"):
        run_import("demig", tmp_path, tmp_path / "out")


# ---- writing: --force, determinism ---------------------------------------------------------------

def test_output_directory_is_created(tmp_path):
    src = write(tmp_path / "inv.csv", INVENTORY)
    out = tmp_path / "a" / "b"
    run_import("csv", src, out)
    assert (out / "inv.policy").is_file()


def test_existing_output_is_not_overwritten_without_force(tmp_path):
    src = write(tmp_path / "inv.csv", INVENTORY)
    out = tmp_path / "out"
    out.mkdir()
    (out / "inv.policy").write_text("# mine\n", encoding="utf-8")
    with pytest.raises(OutputExists) as caught:
        run_import("csv", src, out)
    assert isinstance(caught.value, ImportFailure)
    assert caught.value.file == str(out / "inv.policy")
    assert "--force" in caught.value.message
    assert (out / "inv.policy").read_text(encoding="utf-8") == "# mine\n"
    run_import("csv", src, out, force=True)
    assert (out / "inv.policy").read_text(encoding="utf-8") == expected_inventory(src)


def test_nothing_is_written_when_one_output_exists(tmp_path):
    src = write(tmp_path / "demig.csv", DEMIG)
    out = tmp_path / "out"
    (out / "TUR").mkdir(parents=True)
    (out / "TUR" / "demig.policy").write_text("# mine\n", encoding="utf-8")
    with pytest.raises(OutputExists):
        run_import("demig", src, out)
    assert tree(out) == {"TUR/demig.policy": b"# mine\n"}


def test_output_path_that_is_a_file(tmp_path):
    src = write(tmp_path / "inv.csv", INVENTORY)
    target = write(tmp_path / "out", "x")
    with pytest.raises(ImportFailure, match="not a directory"):
        run_import("csv", src, target)


@pytest.mark.parametrize("fmt, name, text", [
    ("csv", "inv.csv", INVENTORY),
    ("demig", "demig.csv", None),
    ("impic", "impic.csv", None),
])
def test_same_input_bytes_give_same_output_bytes(tmp_path, fmt, name, text):
    text = text or {"demig": DEMIG, "impic": impic_csv(IMPIC_ROWS)}[fmt]
    for copy in ("one", "two"):
        (tmp_path / copy).mkdir()
        run_import(fmt, write(tmp_path / copy / name, text), tmp_path / f"out-{copy}")
    assert tree(tmp_path / "out-one") == tree(tmp_path / "out-two")
    assert tree(tmp_path / "out-one")


# ---- demig --------------------------------------------------------------------------------------

DEMIG_HEADER = ("Country,Summary,Year,Description,Source,Magnitude,Level of legislation,Policy area,"
                "Policy tool,Target group,Target origin,Specific nationalities,Restrictiveness\r\n")
DEMIG = DEMIG_HEADER + (
    'Germany,ius sanguinis enshrined in law,1913,"Nationality Law\n> first common nationality",'
    "Hailbronner 2012: 2,Major change,National policy,Integration,Access to citizenship,All,All,"
    "N/A,Less restrictive\r\n"
    "Turkey,visa for Bulgaria ,1989,Visa requirement,SOPEMI 1990,Mid-level change,National policy,"
    "Border and land control,Entry visa/stay permit ,All migrants  ,Specific nationalities,"
    "Bulgaria,More restrictive\r\n"
    "Germany,joins the ECSC,1952,Treaty,Wikipedia,N/A,N/A,N/A,Contextual elements,N/A,N/A,N/A,N/A\r\n"
    "Germany,family reunion eased,1913,x,y,Minor change,National policy,Integration ,"
    "Access to citizenship,All ,All,N/A,No change\r\n"
    "Turkey,assessment unclear,1989,x,y,Fine-tuning change,National policy,Exit,"
    "Institutional capacities,Diaspora,Citizens,N/A,Change in restrictiveness cannot be assessed\r\n"
)

DEMIG_CITE = "DEMIG (2015) DEMIG POLICY, version 1.3, Online Edition"


def demig_header(src: Path) -> str:
    return (
        "# DEMIG POLICY, version 1.3 (International Migration Institute, University of Oxford)\n"
        f"# Citation: {DEMIG_CITE}\n"
        f"# Input: demig.csv (sha256 {sha(src)})\n"
        "# Produced by: coherence import demig demig.csv\n"
    )


def test_demig_writes_one_policy_set_per_country(tmp_path):
    src = write(tmp_path / "demig.csv", DEMIG)
    out = tmp_path / "out"
    written = run_import("demig", src, out)
    assert [p.relative_to(out).as_posix() for p in written] == [
        "DEU/demig.policy", "DEU/jurisdiction.policy", "TUR/demig.policy", "TUR/jurisdiction.policy"]
    assert (out / "DEU" / "jurisdiction.policy").read_text(encoding="utf-8") == demig_header(src) + (
        "\n"
        'jurisdiction DEU "Germany" {\n'
        "  level: national\n"
        '  iso3: "DEU"\n'
        "}\n"
    )
    assert (out / "TUR" / "demig.policy").read_text(encoding="utf-8") == demig_header(src) + (
        "# 2 policy changes of Turkey; types: rulesets/demig.rules\n"
        "# Check with: coherence check TUR --ruleset demig\n"
        "\n"
        "# record 2, demig.csv line 4\n"
        'policy_change TR.1989.001 "visa for Bulgaria" {\n'
        "  country: TUR\n"
        "  year: 1989\n"
        '  area: "Border and land control"\n'
        '  tool: "Entry visa/stay permit"\n'
        '  group: "All migrants"\n'
        '  origin: "Specific nationalities"\n'
        '  nationalities: "Bulgaria"\n'
        '  magnitude: "Mid-level change"\n'
        "  restrictiveness: more\n"
        '  level: "National policy"\n'
        '  summary: "visa for Bulgaria"\n'
        '  description: "Visa requirement"\n'
        '  source: "SOPEMI 1990"\n'
        f'  cite: "{DEMIG_CITE}; record 2"\n'
        "}\n"
        "\n"
        "# record 5, demig.csv line 7\n"
        'policy_change TR.1989.002 "assessment unclear" {\n'
        "  country: TUR\n"
        "  year: 1989\n"
        '  area: "Exit"\n'
        '  tool: "Institutional capacities"\n'
        '  group: "Diaspora"\n'
        '  origin: "Citizens"\n'
        '  magnitude: "Fine-tuning change"\n'
        "  restrictiveness: not_assessable\n"
        '  level: "National policy"\n'
        '  summary: "assessment unclear"\n'
        '  description: "x"\n'
        '  source: "y"\n'
        f'  cite: "{DEMIG_CITE}; record 5"\n'
        "}\n"
        "\n"
    )


def test_demig_ids_records_lines_and_not_available_values(tmp_path):
    src = write(tmp_path / "demig.csv", DEMIG)
    out = tmp_path / "out"
    run_import("demig", src, out)
    text = (out / "DEU" / "demig.policy").read_text(encoding="utf-8")
    # Sequence numbers count within country and year, in file order; the multi-line record 1
    # starts on line 2 and ends on line 3.
    assert re.findall(r"^# (record .*)\n(policy_change \S+)", text, re.M) == [
        ("record 1, demig.csv line 2", "policy_change DE.1913.001"),
        ("record 3, demig.csv line 5", "policy_change DE.1952.001"),
        ("record 4, demig.csv line 6", "policy_change DE.1913.002"),
    ]
    assert '  description: "Nationality Law > first common nationality"\n' in text
    # N/A leaves fields out: the contextual element has no area, group, magnitude or restrictiveness.
    ecsc = text.split("policy_change DE.1952.001")[1].split("}")[0]
    assert re.findall(r"^  (\w+):", ecsc, re.M) == [
        "country", "year", "tool", "summary", "description", "source", "cite"]
    assert "restrictiveness: no_change" in text
    assert '  area: "Integration"\n  tool' in text  # trailing blank trimmed
    assert '  group: "All"\n' in text
    assert "nationalities" not in text


@pytest.mark.parametrize("text, line, message", [
    (DEMIG_HEADER.replace(",Restrictiveness", ""), 1, "missing column 'Restrictiveness'"),
    (DEMIG_HEADER.replace("Policy area,Policy tool", "Area,Tool"), 1,
     "missing columns 'Policy area', 'Policy tool'"),
    (DEMIG_HEADER + "Germany,s,1913,d,s,Major change,N,I,A,All,All,N/A,Rather restrictive\r\n", 2,
     "unknown value 'Rather restrictive' in column 'Restrictiveness'"),
    (DEMIG_HEADER + "Atlantis,s,1913,d,s,Major change,N,I,A,All,All,N/A,More restrictive\r\n", 2,
     "unknown country 'Atlantis'"),
    (DEMIG_HEADER + "Germany,s,c.1913,d,s,Major change,N,I,A,All,All,N/A,More restrictive\r\n", 2,
     "'c.1913' in column 'Year' is not a year"),
])
def test_demig_failures(tmp_path, text, line, message):
    src = write(tmp_path / "demig.csv", text)
    with pytest.raises(ImportFailure) as caught:
        run_import("demig", src, tmp_path / "out")
    assert message in caught.value.message
    assert caught.value.line == line


def test_demig_accepts_country_codes_and_the_codebook_wording(tmp_path):
    text = DEMIG_HEADER + (
        "DE,s,2000,d,s,Major change,N,I,A,All,All,N/A,No change in restrictiveness\r\n"
        "TUR,s,2000,d,s,Major change,N,I,A,All,All,N/A,more restrictive\r\n"
    )
    src = write(tmp_path / "demig.csv", text)
    run_import("demig", src, tmp_path / "out")
    assert "restrictiveness: no_change" in (tmp_path / "out" / "DEU" / "demig.policy").read_text("utf-8")
    assert "restrictiveness: more" in (tmp_path / "out" / "TUR" / "demig.policy").read_text("utf-8")


# ---- impic --------------------------------------------------------------------------------------

IMPIC_COLUMNS = ["cntry", "year", "AvgS_a02"] + [index.variable for index in INDICES] + ["CCode", "name"]


def impic_csv(rows: list[dict[str, str]]) -> str:
    lines = [",".join(IMPIC_COLUMNS)]
    for row in rows:
        lines.append(",".join(row.get(column, "") for column in IMPIC_COLUMNS))
    return "\r\n".join(lines) + "\r\n"


def impic_row(cntry: str, year: int, **values: str) -> dict[str, str]:
    row = {index.variable: "0.5" for index in INDICES}
    row.update(values)
    row.update(cntry=cntry, year=str(year), AvgS_a02="1.0", CCode="305")
    return row


IMPIC_ROWS = [
    impic_row("at", 1980, AvgS_Reg_A="0.30000001192092896", AvgS_Reg_B="0.6", AvgS_Reg_D=""),
    # A: +0.2 (increase); B: -0.15 (decrease); D missing then present: no change.
    impic_row("at", 1981, AvgS_Reg_A="0.5000000119209290", AvgS_Reg_B="0.45", AvgS_Reg_D="0.7"),
    # A: -0.049999994 (single-precision noise: 0.05 once rounded, kept); B: +0.05 exactly (kept);
    # C: -0.04 (below the threshold).
    impic_row("at", 1982, AvgS_Reg_A="0.4500000178813934", AvgS_Reg_B="0.5", AvgS_Reg_C="0.46",
              AvgS_Reg_D="0.7"),
    impic_row("ed", 1980, AvgS_Reg_B="1.0", AvgS_ImmPol="-200"),
]


def test_impic_exact_changes_and_skipped_values(tmp_path):
    src = write(tmp_path / "impic.csv", impic_csv(IMPIC_ROWS))
    out = tmp_path / "out"
    written = run_import("impic", src, out)
    assert [p.relative_to(out).as_posix() for p in written] == [
        "AUT/impic.policy", "AUT/jurisdiction.policy", "ED/impic.policy", "ED/jurisdiction.policy"]
    text = (out / "AUT" / "impic.policy").read_text(encoding="utf-8")
    cite = "IMPIC v2 (Helbling, Bjerre, Römer, Zobel), 1980-2018"
    assert text.startswith(
        "# IMPIC v2, Immigration Policies in Comparison, 1980-2018\n"
        "# Citation: Helbling, M., Bjerre, L., Römer, F. and Zobel, M. (2017) Measuring immigration "
        "policies: the IMPIC database. European Political Science 16(1): 79-98; data set version 2, "
        "1980-2018\n"
        f"# Input: impic.csv (sha256 {sha(src)})\n"
        "# Produced by: coherence import impic impic.csv\n"
        "# Austria: 23 index values, 4 year-over-year changes of at least 0.05; "
        "types: rulesets/impic.rules\n"
    )
    assert (
        "# impic.csv line 2\n"
        "impic_index AT.1980.AvgS_Reg_A {\n"
        "  country: AUT\n"
        "  year: 1980\n"
        '  index: "AvgS_Reg_A"\n'
        '  name: "Index Regulations Field A"\n'
        "  policy_field: family_reunification\n"
        "  value: 0.30000001192092896\n"
        f'  cite: "{cite}; row 1, variable AvgS_Reg_A"\n'
        "}\n"
    ) in text
    assert (
        "# impic.csv lines 2 and 3\n"
        "impic_change AT.1980-1981.AvgS_Reg_A {\n"
        "  country: AUT\n"
        '  index: "AvgS_Reg_A"\n'
        '  name: "Index Regulations Field A"\n'
        "  policy_field: family_reunification\n"
        "  year: 1981\n"
        "  from_year: 1980\n"
        "  from_value: 0.30000001192092896\n"
        "  to_value: 0.5000000119209290\n"
        "  direction: increase\n"
        "  delta: 0.2\n"
        f'  cite: "{cite}; rows 1 and 2, variable AvgS_Reg_A"\n'
        "}\n"
    ) in text
    changes = re.findall(r"^impic_change (\S+) \{\n(?:.*\n)*?  direction: (\w+)\n  delta: (\S+)", text, re.M)
    assert changes == [
        ("AT.1980-1981.AvgS_Reg_A", "increase", "0.2"),
        ("AT.1981-1982.AvgS_Reg_A", "decrease", "0.05"),
        ("AT.1980-1981.AvgS_Reg_B", "decrease", "0.15"),
        ("AT.1981-1982.AvgS_Reg_B", "increase", "0.05"),
    ]
    # 8 indices x 3 years, less the missing AvgS_Reg_D of 1980.
    assert text.count("\nimpic_index ") == 23
    ed = (out / "ED" / "impic.policy").read_text(encoding="utf-8")
    assert "AvgS_ImmPol" not in ed.split("# Check with")[1]  # -200 is a missing-value code
    assert "impic_index ED.1980.AvgS_Reg_B {\n  country: ED\n" in ed
    assert (out / "ED" / "jurisdiction.policy").read_text(encoding="utf-8").endswith(
        "jurisdiction ED \"IMPIC country code 'ed'\" {\n  level: national\n}\n")


@pytest.mark.parametrize("rows, line, message", [
    ([impic_row("at", 1980, AvgS_Reg_B="high")], 2, "'high' in column 'AvgS_Reg_B' is not a number"),
    ([impic_row("at", 1980), impic_row("at", 1980)], 3,
     "a second row for country 'at' and year 1980 (the first is on line 2)"),
    ([impic_row("at", 80)], 2, "'80' in column 'year' is not a year"),
    ([impic_row("", 1980)], 2, "'' in column 'cntry' is not a country code"),
])
def test_impic_failures(tmp_path, rows, line, message):
    src = write(tmp_path / "impic.csv", impic_csv(rows))
    with pytest.raises(ImportFailure) as caught:
        run_import("impic", src, tmp_path / "out")
    assert message in caught.value.message
    assert caught.value.line == line


def test_impic_missing_index_column(tmp_path):
    src = write(tmp_path / "impic.csv", "cntry,year,AvgS_Reg_A\nat,1980,0.5\n")
    with pytest.raises(ImportFailure, match="not an IMPIC file: missing columns 'AvgS_Reg_B'"):
        run_import("impic", src, tmp_path / "out")


# ---- generated files parse ---------------------------------------------------------------------

def _parse(text: str, file: str = "generated.policy"):
    """The module the project's own parser reads from a generated text (no diagnostics allowed)."""
    module, diags = parse_source(text, file)
    assert not diags, [d.message for d in diags]
    return module


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
def test_any_cell_is_written_as_one_value(cell):
    [fact] = _parse(f"t X {{ f: {format_cell(cell, False)} }}\n").items
    [field] = fact.fields
    value = field.value
    if value.kind == "string":
        assert value.value == one_line(cell)
    elif value.kind == "bool":
        assert cell == value.text
    elif value.kind != "list":
        assert value.text == cell


def test_generated_files_parse(tmp_path):
    run_import("csv", write(tmp_path / "inv.csv", INVENTORY), tmp_path / "out")
    run_import("demig", write(tmp_path / "demig.csv", DEMIG), tmp_path / "out")
    run_import("impic", write(tmp_path / "impic.csv", impic_csv(IMPIC_ROWS)), tmp_path / "out")
    files = sorted((tmp_path / "out").rglob("*.policy"))
    assert len(files) == 9
    for path in files:
        _parse(path.read_text(encoding="utf-8"), path.name)


# ---- the real data sets --------------------------------------------------------------------------

def _facts(text: str, type_name: str) -> list[dict]:
    """The facts of one type in a generated file, read by the project's parser: each a dict of
    its field values (and its id)."""
    facts = []
    for item in _parse(text).items:
        if isinstance(item, A.Fact) and item.type_name == type_name:
            fields = {f.name: ([i.value for i in f.value.items] if f.value.kind == "list" else f.value.value)
                      for f in item.fields}
            fields["id"] = item.id
            facts.append(fields)
    return facts


@real_data
def test_real_demig_counts(tmp_path):
    out = tmp_path / "out"
    written = run_import("demig", DEMIG_REAL, out)
    assert len(written) == 4
    facts = {iso3: _facts((out / iso3 / "demig.policy").read_text("utf-8"), "policy_change")
             for iso3 in ("DEU", "TUR")}
    assert {iso3: len(items) for iso3, items in facts.items()} == {"DEU": 217, "TUR": 114}
    ids = [fact["id"] for items in facts.values() for fact in items]
    assert len(set(ids)) == 331
    records = sorted(int(fact["cite"].rsplit(" ", 1)[1]) for items in facts.values()
                     for fact in items)
    assert records == list(range(1, 332))
    # DEMIG-OPPOSITE over the imported facts, computed here in plain Python.
    pairs = [
        (a["id"], b["id"]) for items in facts.values() for a in items for b in items
        if a.get("restrictiveness") == "more" and b.get("restrictiveness") == "less"
        and all(key in a and a.get(key) == b.get(key) for key in ("country", "year", "group", "area"))
    ]
    assert sorted(pairs) == [
        ("DE.2005.008", "DE.2005.007"), ("DE.2011.002", "DE.2011.001"),
        ("TR.1950.006", "TR.1950.005"), ("TR.2014.005", "TR.2014.006"), ("TR.2014.005", "TR.2014.007"),
    ]


@real_data
def test_real_impic_one_set_per_country_code(tmp_path):
    out = tmp_path / "out"
    run_import("impic", IMPIC_REAL, out)
    with IMPIC_REAL.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    codes = {row["cntry"] for row in rows}
    sets = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(sets) == len(codes) == 35
    index_facts, change_facts = [], []
    for name in sets:
        text = (out / name / "impic.policy").read_text(encoding="utf-8")
        index_facts += _facts(text, "impic_index")
        change_facts += _facts(text, "impic_change")
    expected = sum(1 for row in rows for index in INDICES if row[index.variable].strip())
    assert len(index_facts) == expected == 10178
    assert len(change_facts) == 631
    assert all(float(fact["delta"]) >= 0.05 for fact in change_facts)
    diverging = [
        (lab["id"], fam["id"]) for lab in change_facts for fam in change_facts
        if lab["index"] == "AvgS_Reg_B" and fam["index"] == "AvgS_Reg_A"
        and float(lab["delta"]) >= 0.1 and float(fam["delta"]) >= 0.1
        and lab["country"] == fam["country"] and lab["year"] == fam["year"]
        and lab["direction"] != fam["direction"]
    ]
    assert sorted(diverging) == [
        ("GR.2000-2001.AvgS_Reg_B", "GR.2000-2001.AvgS_Reg_A"),
        ("PT.1992-1993.AvgS_Reg_B", "PT.1992-1993.AvgS_Reg_A"),
    ]


@real_data
def test_real_impic_labels_are_the_codebooks():
    with IMPIC_CODEBOOK.open(encoding="utf-8", newline="") as handle:
        labels = {row["variable"]: row["label"] for row in csv.DictReader(handle)}
    assert {index.variable: index.label for index in INDICES} == {
        index.variable: labels[index.variable] for index in INDICES}
    # Fields A and B are family reunification and labour migration: their items say so.
    assert labels["AvgS_a12"].endswith("Quotas family reunification")
    assert labels["AvgS_b02"].endswith("Quotas labor")
    assert labels["AvgS_d06"].endswith("Quotas co-ethnics")


@real_data
def test_real_imports_are_deterministic(tmp_path):
    for fmt, src in (("demig", DEMIG_REAL), ("impic", IMPIC_REAL)):
        run_import(fmt, src, tmp_path / fmt / "1")
        run_import(fmt, src, tmp_path / fmt / "2")
        assert tree(tmp_path / fmt / "1") == tree(tmp_path / fmt / "2")
