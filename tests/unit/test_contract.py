"""The contract others code against: envelope bytes, command parsing, numbering, exported files."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import pytest

from schemas.commands import AssignDocument, IssueDocument, RegisterDocument
from schemas.decider import DomainError, decide
from schemas.enums import DocumentKind, DocumentType, State
from schemas.envelope import Actor, Envelope, EnvelopeError
from schemas.export import export_schemas, main, render, schemas
from schemas.numbering import NumberRequest, number_code, numbering_needed
from schemas.parsing import CommandInvalid, parse_action, parse_create
from schemas.transitions import render_markdown
from tests.unit.lifecycle import CREATE, NOW, create, reach

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def envelope(**changes: object) -> Envelope:
    fields: dict[str, object] = {
        "event_id": UUID(int=1),
        "stream_id": "d1",
        "version": 1,
        "type": "TaskCreated",
        "schema_version": 1,
        "occurred_at": datetime(2024, 5, 4, 9, 0, tzinfo=timezone(timedelta(hours=7))),
        "actor": Actor("u1", "o1", ("clerk",)),
        "data": {"office_id": "o1", "title": "Báo cáo", "description": ""},
    }
    return Envelope(**{**fields, **changes})  # type: ignore[arg-type]


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    raw = envelope().canonical_bytes()
    assert raw.startswith(b'{"actor":{"office":"o1","roles":["clerk"],"user":"u1"},"causation_id":null')
    assert "Báo cáo".encode() in raw and b" " not in raw.replace("Báo cáo".encode(), b"")
    assert b'"occurred_at":"2024-05-04T02:00:00.000000+00:00"' in raw
    assert envelope().to_json() == raw


def test_the_same_instant_in_another_zone_gives_the_same_bytes() -> None:
    assert (
        envelope().canonical_bytes()
        == envelope(occurred_at=datetime(2024, 5, 4, 2, tzinfo=UTC)).canonical_bytes()
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": "1"}, "version"),
        ({"event_id": "nope"}, "event_id"),
        ({"occurred_at": "2024-05-04T02:00:00"}, "occurred_at"),
        ({"actor": {"office": "o1"}}, "actor.user"),
        ({"data": []}, "data"),
    ],
)
def test_malformed_envelopes_name_the_field(change: dict[str, object], field: str) -> None:
    raw = {**json.loads(envelope().to_json()), **change}
    with pytest.raises(EnvelopeError, match=field):
        Envelope.from_json(json.dumps(raw).encode())


def test_naive_times_are_refused() -> None:
    with pytest.raises(EnvelopeError, match="occurred_at"):
        envelope(occurred_at=datetime(2024, 5, 4))


# --- commands -------------------------------------------------------------------------------------------


def test_create_bodies_are_discriminated_on_kind() -> None:
    assert parse_create(CREATE[DocumentKind.TASK]).action == "create"
    with pytest.raises(CommandInvalid) as invalid:
        parse_create({**CREATE[DocumentKind.INCOMING], "urgency": "rat_khan", "extra": 1})
    fields = {e.field for e in invalid.value.errors}
    assert fields == {"urgency", "extra"}
    assert all(e.reason for e in invalid.value.errors)


def test_assign_parameters_are_validated_with_field_names() -> None:
    command = parse_action(
        "incoming", {"action": "assign", "lead": {"user": "u2"}, "deadline": {"date": "2024-05-10"}}
    )
    assert isinstance(command, AssignDocument) and command.lead.user == "u2"
    with pytest.raises(CommandInvalid) as invalid:
        parse_action(
            "incoming",
            {
                "action": "assign",
                "lead": {"unit": "a", "user": "b"},
                "deadline": {},
                "cooperating": ["x", "x"],
            },
        )
    reasons = {e.field: e.reason for e in invalid.value.errors}
    assert "exactly one of unit or user" in reasons["lead"]
    assert "exactly one of working_days or date" in reasons["deadline"]
    assert "must not repeat" in reasons["cooperating"]
    with pytest.raises(CommandInvalid) as invalid:
        parse_action("outgoing", {"action": "review", "approve": False})
    assert [(e.field, e.reason) for e in invalid.value.errors] == [
        ("comments", "required when the draft is sent back")
    ]


def test_unknown_actions_and_server_fields_are_refused() -> None:
    with pytest.raises(CommandInvalid, match="action"):
        parse_action("task", {"action": "start"})
    with pytest.raises(CommandInvalid, match="incoming_number: assigned by the server"):
        parse_action("incoming", {"action": "register", "incoming_number": 5})
    assert isinstance(parse_action("incoming", {"action": "register", "register": "den_2"}), RegisterDocument)


def test_document_types_carry_vietnamese_names_and_abbreviations() -> None:
    assert (DocumentType.QDI.abbreviation, DocumentType.QDI.vietnamese_name) == ("QĐi", "Quy định")
    assert DocumentType.DA.abbreviation == "ĐA"
    assert number_code(123, DocumentType.CV, "TU") == "123-CV/TU"


# --- numbering ------------------------------------------------------------------------------------------


def test_numbering_tells_the_write_side_which_series() -> None:
    received = create(DocumentKind.INCOMING, overrides={"secrecy": "thuong"})
    register = parse_action("incoming", {"action": "register"})
    assert numbering_needed(register, received, NOW) == NumberRequest("o1", "incoming", "chung", "2024")
    # số đi: per document type and committee term, a secret CV on the CV series (HD 36-HD/VPTW)
    signed = reach(DocumentKind.OUTGOING, State.SIGNED)
    issue = parse_action("outgoing", {"action": "issue", "recipients": ["o2"]})
    assert numbering_needed(issue, signed, NOW) == NumberRequest("o1", "outgoing", "CV", "")
    term = date(2025, 10, 16)
    assert numbering_needed(issue, signed, NOW, term) == NumberRequest("o1", "outgoing", "CV", "2025-10-16")
    assert numbering_needed(issue, reach(DocumentKind.OUTGOING, State.DRAFT), NOW) is None


def test_decide_refuses_a_missing_number() -> None:
    with pytest.raises(DomainError, match="register number"):
        decide(RegisterDocument(), create(DocumentKind.INCOMING), NOW)
    with pytest.raises(DomainError, match="register number"):
        decide(IssueDocument(recipients=("o2",)), reach(DocumentKind.OUTGOING, State.SIGNED), NOW)


# --- exported files -------------------------------------------------------------------------------------


def test_committed_json_schemas_match_the_code() -> None:
    expected = schemas()
    committed = {p.relative_to(SCHEMAS / "json").as_posix() for p in (SCHEMAS / "json").rglob("*.json")}
    assert committed == set(expected), "run: python -m schemas.export schemas/json"
    for name, schema in expected.items():
        assert (SCHEMAS / "json" / name).read_text(encoding="utf-8") == render(schema), name


def test_committed_transition_table_matches_the_code() -> None:
    text = (SCHEMAS / "TRANSITIONS.md").read_text(encoding="utf-8")
    assert text == render_markdown(), (
        "run: python -m schemas.export schemas/json --transitions schemas/TRANSITIONS.md"
    )
    assert "| `received` | `register` | `registered` |" in text


def test_export_cli_writes_every_schema(tmp_path: Path) -> None:
    assert main([str(tmp_path / "out"), "--transitions", str(tmp_path / "T.md")]) == 0
    written = export_schemas(tmp_path / "again")
    assert len(written) == len(schemas())
    assert any(p.name == "DocumentAssigned.v2.json" for p in written)
    assert (tmp_path / "T.md").read_text(encoding="utf-8") == render_markdown()
