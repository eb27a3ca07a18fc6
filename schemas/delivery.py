"""Registering the paper copy of a Tối mật/Tuyệt mật document: the checks, and the link to the sender.

337-QĐ/TW: such documents never travel over a network, so issuing records a paper delivery per recipient
and creates nothing there. The recipient's clerk registers the paper copy when it arrives, naming the
sender's document (`paper_delivery_of`); from then on the copy reports its state like any delivered copy.
"""

from __future__ import annotations

from schemas.commands import ReceiveDocument
from schemas.decider import DomainError
from schemas.enums import Secrecy, State
from schemas.state import DocumentState
from schemas.values import Source

_ISSUED = {State.ISSUED, State.CORRECTED, State.REPLACED, State.RECALLED, State.ARCHIVED}


def link_paper_copy(command: ReceiveDocument, sender: DocumentState, copy: DocumentState) -> ReceiveDocument:
    """`command` with its `source` set to the sender's document, once that document is found to have sent
    this office a paper copy not yet registered; refused otherwise (with no word on what the sender is)."""
    refused = DomainError(
        f"paper_delivery_of: {command.paper_delivery_of} sent office {command.office_id} no paper copy "
        "waiting to be registered",
        copy,
    )
    if sender.office_id is None or sender.state not in _ISSUED:
        raise refused
    waiting = [
        d
        for d in sender.deliveries
        if d.office_id == command.office_id and d.channel == "paper" and d.document_id is None
    ]
    if not waiting:
        raise refused
    secrecy = sender.secrecy or Secrecy.THUONG
    return command.model_copy(
        update={
            "source": Source(office_id=sender.office_id, document_id=sender.id, channel="paper"),
            # the copy is at least as secret as what was sent
            "secrecy": secrecy if secrecy.rank > command.secrecy.rank else command.secrecy,
        }
    )
