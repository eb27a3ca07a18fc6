"""Issue 19: a KRaft cluster id that begins with '-' (1 draw in 64) was read by StorageTool as an option,
and the stack that stored it never started. Ids are now drawn as Kafka draws them, handed over as
`--cluster-id=<id>`, and an unusable stored id is redrawn while nothing was formatted with it."""

from __future__ import annotations

import base64
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy import kafka
from deploy.config.settings import Settings
from deploy.postgres import Postgres
from deploy.procs import StackError, port_open
from tests.toolkit.processes import free_port_pair

DASH_ID = base64.urlsafe_b64encode(b"\xfb" + uuid.uuid4().bytes[1:]).decode().rstrip("=")  # "-..."


def _uuid_with_first_byte(first: int) -> uuid.UUID:
    return uuid.UUID(bytes=bytes([first]) + uuid.uuid4().bytes[1:])


def test_the_dash_id_of_these_tests_is_a_dash_draw() -> None:
    assert DASH_ID.startswith("-") and len(DASH_ID) == 22
    assert len(base64.urlsafe_b64decode(DASH_ID + "==")) == 16
    assert not kafka.valid_cluster_id(DASH_ID)


# drawing ids --------------------------------------------------------------------------------------
def test_200_ids_drawn_as_stack_reset_then_up_draws_them_are_all_valid(tmp_path: Path) -> None:
    folder = tmp_path / "kafka"
    seen = set()
    for _ in range(200):
        shutil.rmtree(folder, ignore_errors=True)  # `vanthu stack reset`
        cid = kafka.cluster_id_for(folder)  # `vanthu stack up`
        assert (folder / "cluster.id").read_text() == cid
        assert kafka.valid_cluster_id(cid) and not cid.startswith("-"), cid
        assert kafka.cluster_id_for(folder) == cid  # kept once stored
        seen.add(cid)
        drawn = kafka.new_cluster_id()
        assert kafka.valid_cluster_id(drawn) and not drawn.startswith("-"), drawn
        seen.add(drawn)
    assert len(seen) == 400


def test_a_draw_that_begins_with_a_dash_or_is_reserved_is_drawn_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _uuid_with_first_byte(0x42)
    draws = [_uuid_with_first_byte(b) for b in (0xF8, 0xF9, 0xFA, 0xFB)]  # 0b111110xx: '-' first
    draws += [uuid.UUID(int=0), uuid.UUID(int=1), good]  # Kafka's reserved ids, then a good one
    for d in draws[:4]:
        assert base64.urlsafe_b64encode(d.bytes).decode().startswith("-")
    expected = base64.urlsafe_b64encode(good.bytes).decode().rstrip("=")

    source = iter(draws)
    monkeypatch.setattr(uuid, "uuid4", lambda: next(source))  # the module deploy.kafka draws from
    assert kafka.new_cluster_id() == expected
    assert next(source, None) is None  # all 7 were drawn

    source = iter(draws)
    assert kafka.cluster_id_for(tmp_path / "fresh") == expected
    assert (tmp_path / "fresh" / "cluster.id").read_text() == expected


@pytest.mark.parametrize(
    "cid",
    [
        DASH_ID,
        "",
        "AAAAAAAAAAAAAAAAAAAAAA",  # the zero Uuid
        "AAAAAAAAAAAAAAAAAAAAAQ",  # Uuid 1, the metadata topic's id
        "MkU0OTY4NzAtNjYwOS00Mz",  # 22 characters, but the last carries bits that 16 bytes do not have
        "abc",
        "Zm9vYmFyYmF6cXV1eDEyMz+",
        "Zm9v+mFyYmF6cXV1eDEyMw",  # '+' is not URL-safe base64 (with '-' it would be valid)
        "Zm9vYmFyYmF6cXV1eDEyMé",
        "Zm9vYmFyYmF6cXV1eDEyMw==",
    ],
)
def test_unusable_ids(cid: str) -> None:
    assert not kafka.valid_cluster_id(cid)


# a stored id and the storage formatted with it ----------------------------------------------------
@pytest.mark.parametrize("stored", [DASH_ID, "not-a-kafka-uuid", ""])
@pytest.mark.parametrize("layout", ["data", "node1/data"])  # single node, and the 3-broker cluster
def test_an_unusable_stored_id_is_redrawn_only_while_nothing_is_formatted(
    tmp_path: Path, stored: str, layout: str
) -> None:
    fresh, formatted = tmp_path / "fresh", tmp_path / "formatted"
    for folder in (fresh, formatted):
        folder.mkdir()
        (folder / "cluster.id").write_text(stored + "\n")
    (formatted / "node2" / "data").mkdir(parents=True)  # a node never formatted does not count

    redrawn = kafka.cluster_id_for(fresh)
    assert kafka.valid_cluster_id(redrawn) and (fresh / "cluster.id").read_text() == redrawn

    (formatted / layout).mkdir(parents=True)
    (formatted / layout / "meta.properties").write_text(f"node.id=1\ncluster.id={stored or DASH_ID}\n")
    assert kafka.cluster_id_for(formatted) == (stored or DASH_ID)  # the file lost: meta.properties says
    assert (formatted / "cluster.id").read_text().strip() == (stored or DASH_ID)


# a real broker on private ports -------------------------------------------------------------------
@pytest.fixture
def node(tmp_path: Path, settings: Settings) -> Iterator[kafka.KafkaNode]:
    """A single broker of its own: fresh data folder, free ports (never the shared stack's)."""
    private = settings.with_(data_dir=tmp_path / "stack", kafka_port=free_port_pair(), kafka_heap="256m")
    n = kafka.single_node(private)
    yield n
    n.managed.stop(timeout=30)


def _serves(n: kafka.KafkaNode) -> str:
    """The broker is up and answers a metadata request; returns the cluster id it reports."""
    from kafka.admin import KafkaAdminClient

    n.wait_listening()
    admin = KafkaAdminClient(bootstrap_servers=n.bootstrap, request_timeout_ms=30000)
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    assert [b["port"] for b in cluster["brokers"]] == [n.port]
    return str(cluster["cluster_id"])


def test_a_broker_formats_and_starts_with_a_stored_id_that_begins_with_a_dash(node: kafka.KafkaNode) -> None:
    node.folder.mkdir(parents=True)
    (node.folder / "cluster.id").write_text(DASH_ID)
    assert not (node.folder / "data" / "meta.properties").exists()
    node.start((node.folder / "cluster.id").read_text(), replication=1)  # the id as stored, unchanged
    assert f"cluster.id={DASH_ID}" in (node.folder / "data" / "meta.properties").read_text()
    assert _serves(node) == DASH_ID
    assert node.managed.stop(timeout=30)
    assert not port_open(node.port)


def test_stack_up_on_a_fresh_folder_with_a_dash_id_draws_a_good_one_and_starts(node: kafka.KafkaNode) -> None:
    node.folder.mkdir(parents=True)
    (node.folder / "cluster.id").write_text(DASH_ID)
    cid = kafka.cluster_id_for(node.folder)  # what Stack.up does
    assert cid != DASH_ID and kafka.valid_cluster_id(cid)
    node.start(cid, replication=1)
    assert _serves(node) == cid
    assert node.managed.stop(timeout=30)


def test_formatted_storage_with_a_dash_id_keeps_it_and_starts_again(node: kafka.KafkaNode) -> None:
    node.folder.mkdir(parents=True)
    (node.folder / "cluster.id").write_text(DASH_ID)
    node.start(DASH_ID, replication=1)  # a stack formatted before the fix, with the 1-in-64 id
    assert _serves(node) == DASH_ID
    assert node.managed.stop(timeout=30)

    cid = kafka.cluster_id_for(node.folder)  # the next `stack up`
    assert cid == DASH_ID and (node.folder / "cluster.id").read_text() == DASH_ID
    node.start(cid, replication=1)
    assert _serves(node) == DASH_ID
    assert node.managed.stop(timeout=30)


# the PostgreSQL side of the same class of bug ---------------------------------------------------
@pytest.mark.parametrize("bad", ['a"b', "a$(touch pwned)b", "a`id`b", "a\\b"])
def test_a_data_dir_pg_ctl_would_hand_to_the_shell_is_refused(
    tmp_path: Path, settings: Settings, bad: str
) -> None:
    pg = Postgres(settings.with_(data_dir=tmp_path / bad / ".stack", pg_port=free_port_pair()))
    with pytest.raises(StackError, match="which pg_ctl would hand to the shell"):
        pg.up()
    assert not (tmp_path / bad / ".stack").exists() and not (tmp_path / "pwned").exists()


def test_a_database_name_with_quotes_is_created_as_named(stack: object, settings: Settings) -> None:
    name = f't_{uuid.uuid4().hex[:8]} o\'k "q"'
    pg = Postgres(settings.with_(pg_database=name))
    try:
        pg._ensure_database()
        pg._ensure_database()  # found the second time, not created again
        listed = pg._psql("select datname from pg_database").stdout.splitlines()
        assert name in listed
    finally:
        dropped = pg._psql('drop database if exists "' + name.replace('"', '""') + '"')
        assert dropped.returncode == 0, dropped.stderr
