"""Small real PDFs for the demo data and the tests: one page of text, signed by a CA made on the spot."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_pdf(*lines: str) -> bytes:
    """A one-page PDF whose text layer holds `lines` (Latin-1 characters; Helvetica)."""
    shown = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) '" for line in shown) + " ET"
    stream = content.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vanthu test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


@dataclass(frozen=True)
class SampleCA:
    """A root CA and one signer certificate it issued, as PEM; `sign` signs a PDF with the signer's key."""

    root_pem: bytes
    signer_cert_pem: bytes
    signer_key_pem: bytes

    @classmethod
    def create(cls, name: str = "Test Root CA", signer: str = "Nguyen Van A") -> SampleCA:
        now = datetime.now(UTC) - timedelta(days=1)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(signer))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        return cls(
            root.public_bytes(pem),
            cert.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        )

    @classmethod
    def load_or_create(cls, folder: Path, name: str) -> SampleCA:
        """The CA kept in `folder` (root.pem, signer.pem, signer.key), made there on first use."""
        parts = [folder / "root.pem", folder / "signer.pem", folder / "signer.key"]
        if not all(p.exists() for p in parts):
            folder.mkdir(parents=True, exist_ok=True)
            made = cls.create(name)
            for path, data in zip(
                parts, (made.root_pem, made.signer_cert_pem, made.signer_key_pem), strict=True
            ):
                path.write_bytes(data)
            parts[2].chmod(0o600)
        return cls(*(p.read_bytes() for p in parts))

    def write_root(self, path: Path) -> Path:
        path.write_bytes(self.root_pem)
        return path

    def sign(self, pdf: bytes, field: str = "Signature1") -> bytes:
        """`pdf` with an incremental update that signs it (PAdES baseline, no timestamp)."""
        from asn1crypto import keys as asn1_keys
        from asn1crypto import x509 as asn1_x509
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import signers
        from pyhanko.sign.fields import SigFieldSpec, append_signature_field
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        signer_cert = asn1_x509.Certificate.load(
            x509.load_pem_x509_certificate(self.signer_cert_pem).public_bytes(serialization.Encoding.DER)
        )
        root_cert = asn1_x509.Certificate.load(
            x509.load_pem_x509_certificate(self.root_pem).public_bytes(serialization.Encoding.DER)
        )
        key_der = serialization.load_pem_private_key(self.signer_key_pem, None).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        signer = signers.SimpleSigner(
            signing_cert=signer_cert,
            signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs([root_cert]),  # type: ignore[no-untyped-call]
        )
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        append_signature_field(writer, SigFieldSpec(sig_field_name=field))
        out = signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name=field), signer=signer)
        signed: bytes = out.getvalue()
        return signed


def append_update(pdf: bytes) -> bytes:
    """`pdf` with one more incremental update after everything in it (its catalogue gains /Lang)."""
    from pyhanko.pdf_utils.generic import pdf_string
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.root["/Lang"] = pdf_string("vi-VN")
    writer.update_root()  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()
