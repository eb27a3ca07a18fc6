"""The files end-to-end tests again, with the services storing files in S3Proxy (a real S3 API)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.config.settings import Settings
from tests.e2e.test_files import (
    TRUSTED,
    test_a_word_only_inside_a_pdf_is_found,
    test_an_issued_document_delivers_its_file,
    test_signatures_are_verified_on_receipt,
)

__all__ = [
    "test_a_word_only_inside_a_pdf_is_found",
    "test_an_issued_document_delivers_its_file",
    "test_signatures_are_verified_on_receipt",
]


@pytest.fixture(scope="module")
def system_env(
    settings: Settings, s3proxy: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    roots = TRUSTED.write_root(Path(tmp_path_factory.mktemp("roots")) / "roots.pem")
    s3 = s3proxy.settings(settings, f"e2e-{uuid.uuid4().hex[:12]}")  # type: ignore[attr-defined]
    yield {
        "VANTHU_TRUST_ROOTS": str(roots),
        "VANTHU_FILES_BACKEND": "s3",
        "VANTHU_S3_ENDPOINT": s3.s3_endpoint,
        "VANTHU_S3_BUCKET": s3.s3_bucket,
        "VANTHU_S3_ACCESS_KEY": s3.s3_access_key,
        "VANTHU_S3_SECRET_KEY": s3.s3_secret_key,
    }
