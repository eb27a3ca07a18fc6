"""A property-based fuzzer over the OpenAPI document (hypothesis; schemathesis is not a dependency):
for each operation, path, query and header values drawn from the declared schema and from outside it,
bodies from anywhere in JSON. Every answer must be below 500, and every error a problem+json that says
what is wrong."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE events; --",
    '" OR ""="',
    "1) OR (1=1",
    "%' OR '%'='",
    "1; SELECT pg_sleep(5)",
    "' UNION SELECT body FROM events --",
    "tu-hcm' OR office_id <> 'tu-hcm",
    "\\'; TRUNCATE rm.documents; --",
    "$1",
    "::text",
    "%",
    "_",
    "\\",
]
UNSAFE = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=2000),
    st.sampled_from(["", " ", "null", "-1", "0", "9" * 30, "1e309", "NaN", "true", "../../etc/passwd"]),
)
ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
# A header value an HTTP client can send at all (h11 refuses leading or trailing whitespace)
HEADER = ASCII.map(str.strip)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | UNSAFE,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _schema(param: Mapping[str, Any]) -> dict[str, Any]:
    schema = dict(param.get("schema") or {})
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return {**schema, **option}
    return schema


def value_for(schema: Mapping[str, Any]) -> st.SearchStrategy[str]:
    """Values inside the declared schema, at its edges and outside it."""
    kind, fmt = schema.get("type"), schema.get("format")
    if "enum" in schema:
        inside: st.SearchStrategy[str] = st.sampled_from([str(v) for v in schema["enum"]])
    elif kind == "integer":
        lo, hi = schema.get("minimum", -(10**6)), schema.get("maximum", 10**6)
        inside = st.integers(lo - 2, hi + 2).map(str) | st.integers().map(str)
    elif kind == "boolean":
        inside = st.sampled_from(["true", "false", "1", "0", "maybe"])
    elif fmt == "date":
        inside = st.dates().map(str) | st.sampled_from(["2026-02-30", "2026-13-01", "20261101"])
    elif fmt == "date-time":
        inside = st.datetimes(timezones=st.just(__import__("datetime").UTC)).map(lambda d: d.isoformat())
        inside = inside | st.datetimes().map(lambda d: d.isoformat())
    else:
        inside = st.text(max_size=schema.get("maxLength", 60) or 60)
    return inside | UNSAFE


def _path_value(
    name: str, schema: Mapping[str, Any], known: Mapping[str, list[str]]
) -> st.SearchStrategy[str]:
    base = value_for(schema).filter(lambda v: v not in {"", ".", ".."})
    if known.get(name):
        base = st.sampled_from(known[name]) | base
    return base.map(lambda v: quote(v, safe=""))


def operations(doc: Mapping[str, Any], skip: Iterable[str] = ()) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, methods in doc["paths"].items():
        if path in skip:
            continue
        for method, op in methods.items():
            out.append((method.upper(), path, op))
    return out


def requests_for(
    method: str, path: str, op: Mapping[str, Any], known: Mapping[str, list[str]]
) -> st.SearchStrategy[dict[str, Any]]:
    """Strategies for one operation's request: url, query params, headers and JSON body."""
    params = op.get("parameters", [])
    path_params = {p["name"]: _path_value(p["name"], _schema(p), known) for p in params if p["in"] == "path"}
    query = {p["name"]: value_for(_schema(p)) for p in params if p["in"] == "query"}
    headers = {p["name"]: HEADER for p in params if p["in"] == "header" and p["name"] != "authorization"}

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        url = path
        for name, strategy in path_params.items():
            url = url.replace("{" + name + "}", draw(strategy))
        q = {k: draw(s) for k, s in query.items() if draw(st.booleans())}
        h = {k: draw(s) for k, s in headers.items() if draw(st.booleans())}
        body = None
        if method == "POST":
            body = draw(_bodies(path, known))
        return {"method": method, "url": url, "params": q, "headers": h, "json": body}

    return build()


def _bodies(path: str, known: Mapping[str, list[str]]) -> st.SearchStrategy[Any]:
    if path.endswith("/actions"):
        shaped = st.fixed_dictionaries(
            {"action": st.sampled_from(known.get("actions", ["register"])) | UNSAFE},
            optional={k: JSON for k in ("register", "reason", "lead", "deadline", "recipients", "percent")},
        )
    else:
        shaped = st.fixed_dictionaries(
            {"kind": st.sampled_from(["incoming", "outgoing", "task"]) | UNSAFE},
            optional={
                "office_id": st.sampled_from(known.get("office", ["tu-hcm"])) | UNSAFE,
                "title": JSON,
                "summary": JSON,
                "document_type": JSON,
                "document_date": JSON,
                "urgency": JSON,
                "secrecy": JSON,
                "attachments": JSON,
                "surprise": JSON,
            },
        )
    return shaped | JSON
