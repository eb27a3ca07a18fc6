"""Invariants of decide/evolve over random sequences of commands."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.decider import DomainError, decide
from schemas.enums import DocumentKind
from schemas.envelope import Envelope
from schemas.evolve import evolve, fold
from schemas.parsing import parse_action, parse_create
from schemas.recording import record
from schemas.state import DocumentState, initial_state
from schemas.transitions import TRANSITIONS, allowed_actions, targets
from tests.unit.lifecycle import ACTOR, CREATE, NOW, SAMPLES, apply, body, create

KINDS = st.sampled_from(list(DocumentKind))


def run(kind: DocumentKind, choices: list[int]) -> tuple[list[DocumentState], list[Envelope]]:
    """Apply, step by step, the chosen allowed action; refused ones (missing preconditions) are skipped."""
    state = create(kind)
    states, envelopes = [state], []
    for step, choice in enumerate(choices):
        actions = [a for a in allowed_actions(kind, state.state) if a in SAMPLES]
        if not actions:
            break
        action = actions[choice % len(actions)]
        before = state.state
        try:
            state, recorded = apply(state, parse_action(kind, body(action)), NOW + timedelta(days=step))
        except DomainError:
            continue
        assert state.state in targets(kind, before, action), (before, action, state.state)
        states.append(state)
        envelopes.extend(recorded)
    return states, envelopes


def first_envelope(kind: DocumentKind) -> list[Envelope]:
    start = initial_state("d1")
    return record(decide(parse_create(CREATE[kind]), start, NOW), start, now=NOW, actor=ACTOR)


@settings(max_examples=60, deadline=None)
@given(kind=KINDS, choices=st.lists(st.integers(min_value=0, max_value=50), max_size=25))
def test_random_accepted_commands_never_leave_the_table(kind: DocumentKind, choices: list[int]) -> None:
    states, _ = run(kind, choices)
    for state in states:
        assert state.kind is kind
        assert state.state in TRANSITIONS[kind]


@settings(max_examples=40, deadline=None)
@given(
    kind=KINDS,
    choices=st.lists(st.integers(min_value=0, max_value=50), max_size=25),
    split=st.integers(min_value=1, max_value=30),
)
def test_folding_one_by_one_equals_folding_the_list_and_is_deterministic(
    kind: DocumentKind, choices: list[int], split: int
) -> None:
    states, envelopes = run(kind, choices)
    everything = first_envelope(kind) + envelopes
    whole = fold(everything)
    assert whole == states[-1]  # the state the write side saw while deciding
    assert fold(everything) == whole  # deterministic
    one_by_one = initial_state("d1")
    for envelope in everything:
        one_by_one = evolve(one_by_one, envelope)
    assert one_by_one == whole
    cut = min(split, len(everything))
    assert fold(everything[cut:], fold(everything[:cut])) == whole  # resuming from a stored state
    # The stored state (read models, audit as_of) round-trips through its dict.
    assert DocumentState.from_dict(whole.to_dict()) == whole


@settings(max_examples=40, deadline=None)
@given(kind=KINDS, choices=st.lists(st.integers(min_value=0, max_value=50), max_size=20))
def test_serialised_events_parse_back_unchanged(kind: DocumentKind, choices: list[int]) -> None:
    _, envelopes = run(kind, choices)
    for envelope in first_envelope(kind) + envelopes:
        again = Envelope.from_json(envelope.to_json())
        assert again == envelope
        assert again.canonical_bytes() == envelope.canonical_bytes()


@settings(max_examples=60, deadline=None)
@given(
    summary=st.text(min_size=1, max_size=40).filter(str.strip),
    version=st.integers(min_value=1, max_value=10**6),
    seconds=st.integers(min_value=0, max_value=10**9),
    key=st.none() | st.text(max_size=20),
)
def test_any_envelope_round_trips(summary: str, version: int, seconds: int, key: str | None) -> None:
    envelope = first_envelope(DocumentKind.TASK)[0]
    changed = Envelope(
        event_id=envelope.event_id,
        stream_id=envelope.stream_id,
        version=version,
        type=envelope.type,
        schema_version=envelope.schema_version,
        occurred_at=NOW + timedelta(seconds=seconds, microseconds=seconds % 997),
        actor=envelope.actor,
        data={**envelope.data, "title": summary},
        idempotency_key=key,
    )
    assert Envelope.from_json(changed.to_json()) == changed


def test_signatures_are_recorded_once_per_file_and_outcome() -> None:
    from tests.unit.lifecycle import SHA, apply, body, create

    document = create(DocumentKind.INCOMING)
    verified = parse_action(DocumentKind.INCOMING, body("record_signatures"))
    after, events = apply(document, verified)
    assert [e.type for e in events] == ["SignaturesVerified"]
    assert after.attachments[0].signature is not None and after.attachments[0].signature.status == "unsigned"
    assert apply(after, verified)[1] == []  # the verifier ran again: nothing new to record
    unknown = body("record_signatures", results=[{"sha256": "f" * 64, "signature": {"status": "valid"}}])
    assert apply(after, parse_action(DocumentKind.INCOMING, unknown))[1] == []
    assert after.attachments[0].sha256 == SHA


def test_only_the_original_and_appendices_of_a_not_too_secret_document_leave_electronically() -> None:
    from schemas.enums import Secrecy
    from schemas.values import Attachment

    def file(role: str, n: int) -> Attachment:
        return Attachment.model_validate(
            {
                "name": f"{role}.pdf",
                "media_type": "application/pdf",
                "sha256": f"{n:064x}",
                "size": 1,
                "role": role,
            }
        )

    files = tuple(file(r, n) for n, r in enumerate(["original", "appendix", "draft", "scan"]))
    document = create(DocumentKind.OUTGOING)
    for secrecy, sent in [("thuong", 2), ("mat", 2), ("toi_mat", 0), ("tuyet_mat", 0)]:
        state = document.model_copy(update={"attachments": files, "secrecy": Secrecy(secrecy)})
        assert [a.role for a in state.delivered_attachments()] == ["original", "appendix"][:sent]


@settings(max_examples=40, deadline=None)
@given(kind=KINDS, choices=st.lists(st.integers(min_value=0, max_value=50), max_size=25))
def test_the_fold_copies_as_pydantic_does_and_never_changes_the_state_it_is_given(
    kind: DocumentKind, choices: list[int]
) -> None:
    import schemas.evolve as fold_module

    _, envelopes = run(kind, choices)
    everything = first_envelope(kind) + envelopes
    states = [initial_state("d1")]
    for envelope in everything:
        before, fields_set = states[-1].model_dump(), set(states[-1].model_fields_set)
        states.append(evolve(states[-1], envelope))
        assert states[-2].model_dump() == before  # the one in-place stamp touches only the new copy
        assert states[-2].model_fields_set == fields_set  # copies share a set only while unchanged
    original = fold_module.copied
    fold_module.copied = lambda model, update: model.model_copy(update=update)  # type: ignore[assignment]
    try:
        reference = [initial_state("d1")]
        for envelope in everything:
            reference.append(evolve(reference[-1], envelope))
    finally:
        fold_module.copied = original
    for ours, theirs in zip(states, reference, strict=True):
        assert ours == theirs
        assert ours.model_fields_set == theirs.model_fields_set
