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
    def travels_on_paper(self) -> bool:
        """Tối mật and Tuyệt mật never travel over a network (337-QĐ/TW): paper, confidential channel."""
        return self.rank >= _SECRECY_RANK[Secrecy.TOI_MAT]

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
    """Party document types (QĐ 66-QĐ/TW, HD 36-HD/VPTW); values are ASCII, `abbreviation` goes in ký hiệu."""

    NQ = "NQ"
    QD = "QD"
    CT = "CT"
    KL = "KL"
    QC = "QC"
    QDI = "QDi"
    TT = "TT"
    HD = "HD"
    BC = "BC"
    KH = "KH"
    CTR = "CTr"
    TB = "TB"
    TTR = "TTr"
    DA = "DA"
    PA = "PA"
    DC = "DC"
    BB = "BB"
    CV = "CV"
    CD = "CD"
    GCN = "GCN"
    GGT = "GGT"
    GM = "GM"
    GDD = "GDD"
    GNP = "GNP"
    PG = "PG"
    PC = "PC"
    PB = "PB"

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
    DocumentType.QC: ("Quy chế", "QC"),
    DocumentType.QDI: ("Quy định", "QĐi"),
    DocumentType.TT: ("Thông tri", "TT"),
    DocumentType.HD: ("Hướng dẫn", "HD"),
    DocumentType.BC: ("Báo cáo", "BC"),
    DocumentType.KH: ("Kế hoạch", "KH"),
    DocumentType.CTR: ("Chương trình", "CTr"),
    DocumentType.TB: ("Thông báo", "TB"),
    DocumentType.TTR: ("Tờ trình", "TTr"),
    DocumentType.DA: ("Đề án", "ĐA"),
    DocumentType.PA: ("Phương án", "PA"),
    DocumentType.DC: ("Đề cương", "ĐC"),
    DocumentType.BB: ("Biên bản", "BB"),
    DocumentType.CV: ("Công văn", "CV"),
    DocumentType.CD: ("Công điện", "CĐ"),
    DocumentType.GCN: ("Giấy chứng nhận", "GCN"),
    DocumentType.GGT: ("Giấy giới thiệu", "GGT"),
    DocumentType.GM: ("Giấy mời", "GM"),
    DocumentType.GDD: ("Giấy đi đường", "GĐĐ"),
    DocumentType.GNP: ("Giấy nghỉ phép", "GNP"),
    DocumentType.PG: ("Phiếu gửi", "PG"),
    DocumentType.PC: ("Phiếu chuyển", "PC"),
    DocumentType.PB: ("Phiếu báo", "PB"),
}


def type_name(document_type: str | None) -> str:
    """What a register prints for a type: a known code's Vietnamese name, else the author's own words."""
    if not document_type:
        return ""
    try:
        return DocumentType(document_type).vietnamese_name
    except ValueError:
        return document_type


STATE_NAMES: dict[str, str] = {
    "received": "Đã tiếp nhận",
    "registered": "Đã đăng ký",
    "returned": "Đã trả lại",
    "submitted": "Đã trình",
    "for_info": "Để biết",
    "filed": "Đã lập hồ sơ",
    "draft": "Dự thảo",
    "review": "Đang xem xét",
    "signed": "Đã ký",
    "issued": "Đã phát hành",
    "replaced": "Đã thay thế",
    "corrected": "Đã đính chính",
    "archived": "Đã lưu trữ",
    "open": "Chưa giao",
    "cancelled": "Đã hủy",
    "assigned": "Đã giao xử lý",
    "in_progress": "Đang giải quyết",
    "completed": "Đã giải quyết",
    "recalled": "Đã thu hồi",
    "new": "Mới",
    "handed_over": "Đã bàn giao",  # a register row of an office that closed and handed the document over
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
