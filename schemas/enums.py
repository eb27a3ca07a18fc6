"""Closed vocabularies of the domain: kinds, states, urgency, secrecy and Party document types."""

from __future__ import annotations

from enum import StrEnum


class DocumentKind(StrEnum):
    INCOMING = "incoming"  # văn bản đến
    OUTGOING = "outgoing"  # văn bản đi
    TASK = "task"


class Urgency(StrEnum):
    """Độ khẩn."""

    THUONG = "thuong"
    KHAN = "khan"
    THUONG_KHAN = "thuong_khan"
    HOA_TOC = "hoa_toc"


class Secrecy(StrEnum):
    """Độ mật."""

    THUONG = "thuong"
    MAT = "mat"
    TOI_MAT = "toi_mat"
    TUYET_MAT = "tuyet_mat"

    @property
    def is_secret(self) -> bool:
        return self is not Secrecy.THUONG

    @property
    def rank(self) -> int:
        """Higher is more secret; a clearance covers every level of its rank or below."""
        return _SECRECY_RANK[self]

    @classmethod
    def rank_of(cls, value: str | None) -> int:
        """The rank of a stored level or a clearance; none, or a value that is no level, ranks as thuong."""
        try:
            return cls(value).rank if value else 0
        except ValueError:
            return 0


_SECRECY_RANK: dict[Secrecy, int] = {
    Secrecy.THUONG: 0,
    Secrecy.MAT: 1,  # Mật
    Secrecy.TOI_MAT: 2,  # Tối mật
    Secrecy.TUYET_MAT: 3,  # Tuyệt mật
}


class DocumentType(StrEnum):
    """Party document types (HD 36-HD/VPTW); values are ASCII, `abbreviation` is what goes in ký hiệu."""

    NQ = "NQ"
    QD = "QD"
    CT = "CT"
    KL = "KL"
    QDI = "QDi"
    TB = "TB"
    HD = "HD"
    BC = "BC"
    TTR = "TTr"
    CV = "CV"
    KH = "KH"
    DA = "DA"

    @property
    def abbreviation(self) -> str:
        return _NAMES[self][1]

    @property
    def vietnamese_name(self) -> str:
        return _NAMES[self][0]


_NAMES: dict[DocumentType, tuple[str, str]] = {
    DocumentType.NQ: ("Nghị quyết", "NQ"),
    DocumentType.QD: ("Quyết định", "QĐ"),
    DocumentType.CT: ("Chỉ thị", "CT"),
    DocumentType.KL: ("Kết luận", "KL"),
    DocumentType.QDI: ("Quy định", "QĐi"),
    DocumentType.TB: ("Thông báo", "TB"),
    DocumentType.HD: ("Hướng dẫn", "HD"),
    DocumentType.BC: ("Báo cáo", "BC"),
    DocumentType.TTR: ("Tờ trình", "TTr"),
    DocumentType.CV: ("Công văn", "CV"),
    DocumentType.KH: ("Kế hoạch", "KH"),
    DocumentType.DA: ("Đề án", "ĐA"),
}


class State(StrEnum):
    """Every state a document can be in, across kinds; `NEW` is the stream before its first event."""

    NEW = "new"
    # incoming
    RECEIVED = "received"
    REGISTERED = "registered"
    RETURNED = "returned"
    SUBMITTED = "submitted"
    FOR_INFO = "for_info"
    FILED = "filed"
    # outgoing
    DRAFT = "draft"
    REVIEW = "review"
    SIGNED = "signed"
    ISSUED = "issued"
    REPLACED = "replaced"
    CORRECTED = "corrected"
    ARCHIVED = "archived"
    # task
    OPEN = "open"
    CANCELLED = "cancelled"
    # shared
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    RECALLED = "recalled"


INCOMING_STATES: tuple[State, ...] = (
    State.RECEIVED,
    State.REGISTERED,
    State.RETURNED,
    State.SUBMITTED,
    State.ASSIGNED,
    State.IN_PROGRESS,
    State.COMPLETED,
    State.FILED,
    State.FOR_INFO,
    State.RECALLED,
)


class RecipientState(StrEnum):
    """The state of a recipient office's incoming copy, as the sender sees it."""

    RECEIVED = "received"
    REGISTERED = "registered"
    RETURNED = "returned"
    SUBMITTED = "submitted"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FILED = "filed"
    FOR_INFO = "for_info"
    RECALLED = "recalled"


class AttachmentRole(StrEnum):
    """What a file is to its document."""

    ORIGINAL = "original"  # the signed electronic document (bản gốc điện tử)
    SCAN = "scan"  # the scan of a paper document received
    APPENDIX = "appendix"  # phụ lục
    DRAFT = "draft"  # dự thảo

    @property
    def delivered(self) -> bool:
        """Issue sends the signed original and its appendices with each electronic copy, never drafts."""
        return self in (AttachmentRole.ORIGINAL, AttachmentRole.APPENDIX)


class SignatureStatus(StrEnum):
    """The outcome of verifying a file's signatures against the deployment's trust roots."""

    VALID = "valid"  # every signature intact and chained to a trusted root
    INVALID = "invalid"  # a signature does not match the bytes it signs
    UNTRUSTED = "untrusted"  # intact, but a signer's certificate does not chain to a trusted root
    UNSIGNED = "unsigned"  # a PDF with no signature
    NOT_PDF = "not_pdf"  # not a PDF: nothing to verify
