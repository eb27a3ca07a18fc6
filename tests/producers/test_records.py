"""The relay's record batches are the bytes kafka-python's own builder makes, and read back as sent."""

from __future__ import annotations

import random
import uuid

import pytest
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from producers.records import LZ4, BatchBuilder, header, headers_prefix, next_sequence, sized


def _records(n: int, seed: int) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        key = f"doc-{rng.randrange(50)}".encode()
        size = rng.choice([0, 1, 120, 600, 5000, 40000])  # 40,000 takes a three-byte length
        value = bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64 + 1)
        value = value[:size]
        heads = [("type", b"ProgressReported"), ("schema_version", b"1"), ("position", str(i * 7).encode())]
        if i % 5 == 0:
            heads.append(("idempotency", b'{"key": "k-%d"}' % i))
        out.append((key, value, heads))
    return out


def _ours(records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]], compress: bool, seq: int) -> bytes:
    b = BatchBuilder()
    for key, value, heads in records:
        encoded = headers_prefix(heads[:2], len(heads)) + b"".join(header(k, v) for k, v in heads[2:])
        b.append(sized(key), value, encoded)
    return b.build(4711, 3, seq, 1_700_000_000_123, compress)


def _kafkas(records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]], compress: bool, seq: int) -> bytes:
    codec = LZ4 if compress else 0
    b = DefaultRecordBatchBuilder(2, codec, False, 4711, 3, seq, batch_size=1 << 30)
    for i, (key, value, heads) in enumerate(records):
        assert b.append(i, 1_700_000_000_123, key, value, heads) is not None
    return bytes(b.build())


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("n", [1, 7, 300, 2000])
def test_same_bytes_as_kafka_pythons_builder(n: int, compress: bool) -> None:
    records = _records(n, seed=n)
    assert _ours(records, compress, 12345) == _kafkas(records, compress, 12345)


def test_reads_back_as_sent() -> None:
    records = _records(500, seed=1)
    batch = DefaultRecordBatch(_ours(records, True, 99))
    assert batch.validate_crc()
    assert batch.compression_type == LZ4
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (4711, 3, 99)
    got = list(batch)
    assert [(r.offset, r.key, r.value, r.headers) for r in got] == [
        (i, key, value, heads) for i, (key, value, heads) in enumerate(records)
    ]


def test_incompressible_records_go_uncompressed_as_kafka_python_decides() -> None:
    rng = random.Random(3)
    records = [(b"k", rng.randbytes(100), [("type", b"T"), ("schema_version", b"1")])]
    ours = _ours(records, True, 0)
    assert DefaultRecordBatch(ours).compression_type == 0
    assert ours == _kafkas(records, True, 0)


def test_sequences_wrap_at_int32() -> None:
    assert next_sequence(0, 2000) == 2000
    assert next_sequence(2**31 - 1, 1) == 0
    assert next_sequence(2**31 - 10, 2000) == 1990


def test_murmur2_is_kafkas() -> None:
    from kafka.partitioner.default import murmur2 as kafkas

    from producers.records import murmur2

    rng = random.Random(7)
    keys = [rng.randbytes(n) for n in range(0, 300) for _ in range(5)]
    keys += [str(uuid.uuid4()).encode() for _ in range(2000)] + ["văn thư".encode()]
    for key in keys:
        assert murmur2(key) & 0x7FFFFFFF == kafkas(key) & 0x7FFFFFFF, key
