"""What the pages call things, in Vietnamese: roles, statuses, levels, actions and events."""

from __future__ import annotations

from schemas.enums import STATE_NAMES, type_name

ROLES = {
    "clerk": "Văn thư",
    "specialist": "Chuyên viên",
    "leader": "Lãnh đạo",
    "auditor": "Kiểm tra viên",
    "admin": "Quản trị",
}
CLEARANCES = {"": "Không", "mat": "Mật", "toi_mat": "Tối mật", "tuyet_mat": "Tuyệt mật"}
SECRECY = {"thuong": "Thường", "mat": "Mật", "toi_mat": "Tối mật", "tuyet_mat": "Tuyệt mật"}
URGENCY = {"thuong": "Thường", "khan": "Khẩn", "thuong_khan": "Thượng khẩn", "hoa_toc": "Hỏa tốc"}
KINDS = {"incoming": "Văn bản đến", "outgoing": "Văn bản đi", "task": "Công việc"}
DEADLINE_STATUS = {
    "on_time": "Trong hạn",
    "due_soon": "Sắp đến hạn",
    "overdue": "Quá hạn",
    "completed_on_time": "Hoàn thành đúng hạn",
    "completed_late": "Hoàn thành quá hạn",
}
SIGNATURE = {
    "valid": "Chữ ký hợp lệ",
    "untrusted": "Chữ ký nguyên vẹn, chưa xác thực được nguồn",
    "invalid": "Chữ ký không hợp lệ",
    "unsigned": "Không có chữ ký số",
    "not_pdf": "Không phải tệp PDF",
}
ATTACHMENT_ROLES = {
    "original": "Bản gốc điện tử",
    "scan": "Bản quét",
    "appendix": "Phụ lục",
    "draft": "Dự thảo",
}
CHANNELS = {"electronic": "Điện tử", "paper": "Giấy (đường mật)"}
DELIVERY_STATES = {**STATE_NAMES, "pending": "Chưa nhận"}
# The six counts of the report (Báo cáo tình hình giải quyết văn bản), in the order it prints them.
COUNTS = {
    "received": "Tiếp nhận",
    "issued": "Phát hành",
    "completed_on_time": "Giải quyết đúng hạn",
    "completed_late": "Giải quyết quá hạn",
    "open_within_deadline": "Đang giải quyết, trong hạn",
    "open_past_deadline": "Đang giải quyết, quá hạn",
}
ACTIONS = {
    "register": "Đăng ký",
    "return": "Trả lại",
    "submit": "Trình lãnh đạo",
    "assign": "Giao xử lý",
    "reassign": "Giao lại",
    "start": "Bắt đầu giải quyết",
    "report_progress": "Báo cáo tiến độ",
    "request_extension": "Xin gia hạn",
    "decide_extension": "Quyết định gia hạn",
    "complete": "Hoàn thành",
    "file": "Lập hồ sơ",
    "mark_for_info": "Để biết",
    "recall": "Thu hồi",
    "submit_review": "Trình duyệt dự thảo",
    "review": "Cho ý kiến dự thảo",
    "sign": "Ký",
    "issue": "Phát hành",
    "archive": "Lưu trữ",
    "cancel": "Hủy",
    "confirm_recall": "Xác nhận thu hồi",
    "refuse_recall": "Từ chối thu hồi",
    "correct": "Đính chính",
    "revise": "Sửa dự thảo",
    "replace": "Thay thế bằng văn bản khác",
    "declassify": "Giải mật, hạ độ mật",
    "grant_access": "Cấp quyền xem văn bản mật",
}
EVENTS = {
    "DocumentReceived": "tiếp nhận văn bản",
    "DocumentRegistered": "đăng ký văn bản đến",
    "DocumentReturned": "trả lại văn bản",
    "DocumentSubmitted": "trình lãnh đạo",
    "DocumentAssigned": "giao xử lý",
    "DocumentReassigned": "giao lại",
    "HandlingStarted": "bắt đầu giải quyết",
    "ProgressReported": "báo cáo tiến độ",
    "ExtensionRequested": "xin gia hạn",
    "ExtensionGranted": "đồng ý gia hạn",
    "ExtensionRefused": "không đồng ý gia hạn",
    "HandlingCompleted": "hoàn thành giải quyết",
    "DocumentFiled": "lập hồ sơ",
    "DocumentMarkedForInformation": "chuyển để biết",
    "DocumentRecalled": "thu hồi",
    "DocumentDrafted": "soạn dự thảo",
    "DraftRevised": "sửa dự thảo",
    "DraftSubmittedForReview": "trình duyệt dự thảo",
    "DraftReviewed": "cho ý kiến dự thảo",
    "DocumentSigned": "ký văn bản",
    "DocumentIssued": "phát hành văn bản",
    "DocumentDelivered": "gửi đến nơi nhận",
    "RecipientStatusChanged": "nơi nhận cập nhật trạng thái",
    "RecipientRecallAnswered": "nơi nhận trả lời thu hồi",
    "DocumentReplaced": "thay thế văn bản",
    "DocumentCorrected": "đính chính văn bản",
    "CopyReplaced": "bản nhận được thay thế",
    "DocumentArchived": "lưu trữ",
    "DocumentDeclassified": "giải mật, hạ độ mật",
    "AccessGranted": "cấp quyền xem",
    "RecallRequested": "bên gửi yêu cầu thu hồi",
    "RecallConfirmed": "xác nhận thu hồi",
    "RecallRefused": "từ chối thu hồi",
    "DeadlineApproached": "nhắc: sắp đến hạn",
    "DeadlineMissed": "nhắc: đã quá hạn",
    "IntakeOverdue": "nhắc: chậm đăng ký, chuyển giao",
    "IssueOverdue": "nhắc: chậm phát hành",
    "SignaturesVerified": "kiểm tra chữ ký số",
    "TaskCreated": "tạo công việc",
    "TaskCancelled": "hủy công việc",
    "DeadLetterSettled": "xử lý bản ghi lỗi",
}


def event_name(event_type: str) -> str:
    return EVENTS.get(event_type, event_type)


def state_name(state: str | None) -> str:
    return STATE_NAMES.get(state or "", state or "")


def actor_name(user: str) -> str:
    """A user id as a person reads it: the system's own acts say so."""
    return "Hệ thống" if user == "system" or user.startswith("system:") else user


__all__ = ["type_name"]
