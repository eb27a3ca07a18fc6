"""Verifying the signatures of a received PDF with pyHanko against the deployment's trust roots."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from schemas.enums import SignatureStatus
from schemas.values import SignatureCheck, Signer

log = logging.getLogger(__name__)


def load_roots(paths: str) -> list[asn1_x509.Certificate]:
    """The CA certificates in the comma-separated PEM (or DER) files of VANTHU_TRUST_ROOTS."""
    from asn1crypto import pem

    roots = []
    for name in (p.strip() for p in paths.split(",")):
        if not name:
            continue
        data = Path(name).read_bytes()
        if pem.detect(data):
            roots += [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        else:
            roots.append(asn1_x509.Certificate.load(data))
    return roots


def _name(name: asn1_x509.Name) -> str:
    return str(name.human_friendly)


def _signer(status: PdfSignatureStatus) -> Signer:
    cert = status.signing_cert
    return Signer(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        signed_at=status.signer_reported_dt,
        covers_whole_file=status.coverage is not None and status.coverage.name == "ENTIRE_FILE",
    )


def verify(data: bytes, roots: Sequence[asn1_x509.Certificate]) -> SignatureCheck:
    """valid (every signature intact and trusted), invalid (one does not match its bytes), untrusted (intact
    but not chained to a root), unsigned; each signer says whether its signature covers the whole file."""
    if not data.startswith(b"%PDF-"):
        return SignatureCheck(status=SignatureStatus.NOT_PDF)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfReadError, ValueError, KeyError) as exc:
        log.info("not a readable PDF: %r", exc)
        return SignatureCheck(status=SignatureStatus.INVALID)
    if not embedded:
        return SignatureCheck(status=SignatureStatus.UNSIGNED)
    signers, intact, trusted = [], True, True
    for sig in embedded:
        context = ValidationContext(trust_roots=list(roots), allow_fetching=False)
        try:
            status: Any = validate_pdf_signature(sig, signer_validation_context=context)
        except Exception as exc:  # a signature pyHanko cannot even parse does not verify
            log.info("signature %s failed to validate: %r", sig.field_name, exc)
            intact = False
            continue
        signers.append(_signer(status))
        # an update after this signature that changes more than signing or form filling allows is tampering
        tampered = status.docmdp_ok is False
        intact = intact and bool(status.intact and status.valid) and not tampered
        trusted = trusted and bool(status.trusted)
    if not intact:
        result = SignatureStatus.INVALID
    elif not trusted:
        result = SignatureStatus.UNTRUSTED
    else:
        result = SignatureStatus.VALID
    return SignatureCheck(status=result, signers=tuple(signers))
