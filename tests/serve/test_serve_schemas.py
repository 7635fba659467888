"""The pydantic model of `coherence-report/1` follows what `Report.to_dict()` writes, exactly, and
the JSON Schemas shipped in docs/schemas are the ones the models generate."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from pydantic import ValidationError

from coherence_rules.serve.models import (API_MODELS, API_SCHEMA_FILE, REPORT_SCHEMA_FILE, schema_documents,
                                          validate_report)
from coherence_rules.session import Session
from tests.serve.helpers import MAURITIUS, REFERENCE, ROOT

SCHEMAS = ROOT / "docs" / "schemas"
REGENERATE = "python -m coherence_rules.serve.models docs/schemas"


def test_the_shipped_schemas_are_what_the_models_generate():
    generated = schema_documents()
    assert sorted(generated) == sorted(p.name for p in SCHEMAS.glob("*.json"))
    for name, text in generated.items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == text, f"{name} is out of date: run `{REGENERATE}`"


def test_the_api_schema_has_every_model():
    defs = json.loads(schema_documents()[API_SCHEMA_FILE])["$defs"]
    assert {m.__name__ for m in API_MODELS} <= set(defs)


def mauritius_reports(tmp_path):
    """Real reports of policies/mauritius: as shipped, with the reference sets, on a date when its
    accept has lapsed, with an accept that matches nothing, and with an error."""
    yield "as shipped", Session([MAURITIUS], as_of=dt.date(2026, 11, 23)).report.to_json()
    yield "with references", Session([MAURITIUS], with_paths=[REFERENCE], as_of=dt.date(2026, 11, 23)).report.to_json()
    yield "accept expired", Session([MAURITIUS], as_of=dt.date(2031, 1, 1)).report.to_json()
    stale = tmp_path / "stale"
    shutil.copytree(MAURITIUS, stale)
    with open(stale / "instruments.policy", "a", encoding="utf-8") as f:
        f.write('\naccept ADM-SECTOR on [WPR.9] { reason: "matches nothing"  until: 2030-01-01 }\n')
    yield "stale accept", Session([stale], as_of=dt.date(2026, 11, 23)).report.to_json()
    broken = tmp_path / "broken"
    shutil.copytree(MAURITIUS, broken)
    text = (broken / "instruments.policy").read_text(encoding="utf-8")
    (broken / "instruments.policy").write_text(text.replace("effect: restrict", "effect: restrictt", 1) + "measure {\n",
                                               encoding="utf-8")
    yield "errors", Session([broken], as_of=dt.date(2026, 11, 23)).report.to_json()


def test_real_reports_of_mauritius_validate_against_the_model_and_the_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / REPORT_SCHEMA_FILE).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    seen = set()
    for what, text in mauritius_reports(tmp_path):
        report = validate_report(text)  # raises, naming the field, when the report drifts from the model
        doc = json.loads(text)
        errors = sorted(validator.iter_errors(doc), key=str)
        assert not errors, f"{what}: {errors[0]}"
        seen |= {f.status for f in report.findings} | {a.status for a in report.accepts}
        seen |= {d.severity for d in report.diagnostics}
    assert {"open", "accepted", "expired", "applied", "stale", "error", "warning"} <= seen


def test_the_model_is_exact(tmp_path):
    doc = json.loads(Session([MAURITIUS], as_of=dt.date(2026, 11, 23)).report.to_json())

    def refused(change) -> None:
        d = json.loads(json.dumps(doc))
        change(d)
        with pytest.raises(ValidationError):
            validate_report(json.dumps(d))

    refused(lambda d: d.update(extra=1))
    refused(lambda d: d["findings"][0].update(extra=1))
    refused(lambda d: d["findings"][0]["trace"].update(extra=1))
    refused(lambda d: d["summary"]["by_score"].pop("-3"))
    refused(lambda d: d["findings"][0].update(score="-1"))
    refused(lambda d: d["findings"][0].update(status="closed"))
    refused(lambda d: d.pop("matrix"))
    refused(lambda d: d.update(schema="coherence-report/2"))
