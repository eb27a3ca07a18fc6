"""Kafka record batches (message format v2) built in one pass for the relay.

kafka-python's `DefaultRecordBatchBuilder` encodes each record with a generic varint writer and type
checks, one record at a time; the relay already knows its records are bytes and mostly small, so this
builder writes the same bytes from cached varints and pre-encoded key and header pieces, then frames,
compresses (kafka-python's lz4 codec) and checksums (kafka-python's CRC32C, the C module) the batch with
kafka-python's header layout. `tests/producers/test_records.py` checks it byte for byte against
kafka-python's builder."""

from __future__ import annotations

import struct

from kafka.codec import lz4_encode
from kafka.record.default_records import DefaultRecordBase
from kafka.record.util import calc_crc32c

_HEADER = DefaultRecordBase.HEADER_STRUCT
_HEADER_SIZE = _HEADER.size
_ATTRIBUTES_OFFSET = DefaultRecordBase.ATTRIBUTES_OFFSET
_CRC_OFFSET = DefaultRecordBase.CRC_OFFSET
_AFTER_LEN_OFFSET = DefaultRecordBase.AFTER_LEN_OFFSET
_CRC = struct.Struct(">I")
LZ4 = DefaultRecordBase.CODEC_LZ4
MAGIC = 2
SEQUENCE_MODULUS = 1 << 31  # sequence numbers are int32 and wrap to 0, as the Java client's


def _varint(value: int) -> bytes:
    """Kafka's varint: zigzag, then 7 bits a byte, low first."""
    v = (value << 1) ^ (value >> 63)
    out = bytearray()
    while v > 0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


_SMALL = tuple(_varint(i) for i in range(1 << 15))


def varint(value: int) -> bytes:
    return _SMALL[value] if 0 <= value < 32768 else _varint(value)


def sized(data: bytes) -> bytes:
    """A key, header key or header value as the record format stores it: length, then the bytes."""
    n = len(data)
    return (_SMALL[n] if n < 32768 else _varint(n)) + data


def headers_prefix(pairs: list[tuple[str, bytes]], count: int) -> bytes:
    """The start of a record's headers: their count (`count`, including any appended later by the caller
    with `header`), then `pairs` encoded."""
    return varint(count) + b"".join(header(k, v) for k, v in pairs)


def header(key: str, value: bytes) -> bytes:
    return sized(key.encode()) + sized(value)


class BatchBuilder:
    """The records of one batch for one partition, appended in offset order."""

    __slots__ = ("count", "parts", "size")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.count = 0
        self.size = 0  # uncompressed bytes of the records so far

    def append(self, key: bytes, value: bytes, headers: bytes) -> None:
        """`key` is `sized(key)`; `headers` the encoded header count and headers. Timestamp delta 0: every
        record of a batch carries the batch's timestamp."""
        offset = self.count
        od = _SMALL[offset] if offset < 32768 else _varint(offset)
        vn = len(value)
        vl = _SMALL[vn] if vn < 32768 else _varint(vn)
        n = 2 + len(od) + len(key) + len(vl) + vn + len(headers)
        ln = _SMALL[n] if n < 32768 else _varint(n)
        self.parts += (ln, b"\x00\x00", od, key, vl, value, headers)
        self.count = offset + 1
        self.size += len(ln) + n

    def build(
        self,
        producer_id: int,
        producer_epoch: int,
        base_sequence: int,
        timestamp_ms: int,
        compress: bool = True,
    ) -> bytes:
        """The batch as a ProduceRequest carries it (lz4-compressed unless that saves nothing, as
        kafka-python decides)."""
        raw = b"".join(self.parts)
        attributes, data = 0, raw
        if compress:
            packed = lz4_encode(raw)
            if len(packed) < len(raw):
                attributes, data = LZ4, packed
        buf = bytearray(_HEADER_SIZE)
        buf += data
        _HEADER.pack_into(
            buf,
            0,
            0,  # base offset: the broker assigns it
            len(buf) - _AFTER_LEN_OFFSET,
            0,  # partition leader epoch: set by the broker
            MAGIC,
            0,  # CRC: below, over everything after it
            attributes,
            self.count - 1,  # last offset delta
            timestamp_ms,
            timestamp_ms,
            producer_id,
            producer_epoch,
            base_sequence,
            self.count,
        )
        _CRC.pack_into(buf, _CRC_OFFSET, calc_crc32c(memoryview(buf)[_ATTRIBUTES_OFFSET:]))
        return bytes(buf)


def next_sequence(sequence: int, records: int) -> int:
    return (sequence + records) % SEQUENCE_MODULUS


_M = 0x5BD1E995
_WORDS = [struct.Struct(f"<{n}I") for n in range(64)]


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of a key (`Utils.murmur2`, as an unsigned 32-bit value), whose positive part modulo
    the partition count is the default partitioner's choice: kafka-python's version, word at a time."""
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    words = length >> 2
    unpack = _WORDS[words] if words < 64 else struct.Struct(f"<{words}I")
    for k in unpack.unpack_from(data):
        k = (k * _M) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * _M) & 0xFFFFFFFF) ^ ((k * _M) & 0xFFFFFFFF)
    rest = length & 3
    if rest:
        tail = length & ~3
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)
