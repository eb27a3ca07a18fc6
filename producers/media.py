"""A file's media type judged by its first bytes, not only by what the uploader's header claims."""

from __future__ import annotations

from dataclasses import dataclass

PDF = "application/pdf"
OCTET = "application/octet-stream"

# (magic prefix, the type it proves, the declared types compatible with it)
_ZIP_FAMILY = (
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
)
_OLE_FAMILY = ("application/x-ole-storage", "application/msword", "application/vnd.ms-excel")
_MAGIC: tuple[tuple[bytes, str, tuple[str, ...]], ...] = (
    (b"%PDF-", PDF, (PDF,)),
    (b"\x89PNG\r\n\x1a\n", "image/png", ("image/png",)),
    (b"\xff\xd8\xff", "image/jpeg", ("image/jpeg", "image/jpg")),
    (b"II*\x00", "image/tiff", ("image/tiff",)),
    (b"MM\x00*", "image/tiff", ("image/tiff",)),
    (b"GIF87a", "image/gif", ("image/gif",)),
    (b"GIF89a", "image/gif", ("image/gif",)),
    (b"PK\x03\x04", "application/zip", _ZIP_FAMILY),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage", _OLE_FAMILY),
)
_PROVABLE = {t for _, _, family in _MAGIC for t in family}  # types whose content has a signature to check
_EXECUTABLE = (b"MZ", b"\x7fELF", b"#!")


@dataclass(frozen=True)
class Refused(Exception):
    """The content is not what the header says, or is a program."""

    reason: str


def judge(declared: str | None, head: bytes) -> str:
    """The media type to store: the declared one when the content bears it out, else the content's own.
    Raises Refused for programs and for content that contradicts a checkable declared type."""
    claimed = (declared or "").split(";")[0].strip().lower()
    if head.startswith(_EXECUTABLE):
        raise Refused("programs and scripts are not accepted as document files")
    for magic, proven, family in _MAGIC:
        if head.startswith(magic):
            if claimed in ("", OCTET):
                return proven
            if claimed in family:
                return claimed
            raise Refused(f"the content is {proven}, not {claimed}")
    if claimed in _PROVABLE:
        raise Refused(f"the content is not {claimed} (its first bytes do not match)")
    if claimed in ("", OCTET):
        return _text_or_octet(head)
    return claimed


def _text_or_octet(head: bytes) -> str:
    if b"\x00" in head:
        return OCTET
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the head
            return OCTET
    return "text/plain"
