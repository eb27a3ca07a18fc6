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
