"""Export the contract: a JSON Schema per event and command, and the transition table as markdown.

`vanthu schemas export DIR` calls `main`; the committed copies live in `schemas/json/` and
`schemas/TRANSITIONS.md`, and a unit test fails when they drift from the code.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from schemas.commands import ALL_COMMANDS
from schemas.events import ACT_TYPES, EVENT_TYPES
from schemas.state import DocumentState
from schemas.transitions import render_markdown
from schemas.upcasting import RENAMED


def _envelope_schema() -> dict[str, Any]:
    nullable_uuid = {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Envelope",
        "description": "A stored event; canonical JSON: UTF-8, sorted keys, no whitespace, non-ASCII as is.",
        "type": "object",
        "additionalProperties": False,
        "required": [
            "event_id",
            "stream_id",
            "version",
            "type",
            "schema_version",
            "occurred_at",
            "actor",
            "causation_id",
            "correlation_id",
            "idempotency_key",
            "data",
        ],
        "properties": {
            "event_id": {"type": "string", "format": "uuid"},
            "stream_id": {"type": "string", "minLength": 1},
            "version": {"type": "integer", "minimum": 1},
            # Stored envelopes keep the name they were written with, so renamed types' old names stay valid.
            "type": {"type": "string", "enum": sorted({*EVENT_TYPES, *ACT_TYPES, *RENAMED})},
            "schema_version": {"type": "integer", "minimum": 1},
            "occurred_at": {"type": "string", "format": "date-time"},
            "actor": {
                "type": "object",
                "additionalProperties": False,
                "required": ["user", "office", "roles"],
                "properties": {
                    "user": {"type": "string", "minLength": 1},
                    "office": {"type": "string"},
                    "roles": {"type": "array", "items": {"type": "string"}},
                },
            },
            "causation_id": nullable_uuid,
            "correlation_id": nullable_uuid,
            "idempotency_key": {"type": ["string", "null"]},
            "data": {"type": "object"},
        },
    }


def schemas() -> dict[str, dict[str, Any]]:
    """Every exported schema by its relative file name."""
    out: dict[str, dict[str, Any]] = {"envelope.json": _envelope_schema()}
    for name, event in sorted({**EVENT_TYPES, **ACT_TYPES}.items()):
        schema = event.model_json_schema(by_alias=True)
        schema["x-schema-version"] = event.schema_version
        out[f"events/{name}.v{event.schema_version}.json"] = schema
    for command in ALL_COMMANDS:
        schema = command.model_json_schema(by_alias=True)
        schema["x-action"] = command.action
        schema["x-kinds"] = sorted(k.value for k in command.kinds)
        schema["x-server-fields"] = sorted(command.server_fields)
        schema["x-system"] = command.system
        out[f"commands/{command.action}.json"] = schema
    out["state.json"] = DocumentState.model_json_schema()
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_schemas(directory: Path | str) -> list[Path]:
    """Write every schema under `directory`; returns the files written."""
    root = Path(directory)
    written = []
    for name, schema in schemas().items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vanthu schemas export", description=__doc__)
    parser.add_argument("directory", type=Path, help="where to write the JSON Schema files")
    parser.add_argument("--transitions", type=Path, help="also write the transition table (markdown)")
    args = parser.parse_args(argv)
    for path in export_schemas(args.directory):
        print(path)
    if args.transitions is not None:
        args.transitions.write_text(render_markdown(), encoding="utf-8")
        print(args.transitions)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
