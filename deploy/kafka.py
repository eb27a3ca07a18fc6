"""Apache Kafka in KRaft mode, run with `java` from jars that Maven resolves from Maven Central."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from deploy import maven
from deploy.config.settings import REPO_ROOT, Settings
from deploy.procs import Managed, StackError, port_open, say, wait_for
from producers.topics import ensure_topic

POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
CHECK_TOPIC = "vanthu.stack.check"


def require_java() -> str:
    java = shutil.which("java")
    if not java:
        raise StackError(
            "java is missing: install a JDK 17+ (e.g. `apt-get install -y openjdk-17-jre-headless`)"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    major = _java_major(out)
    if major and major < 17:
        raise StackError(f"Kafka 4 needs Java 17 or newer; `java -version` says {major}")
    return java


def _java_major(version_text: str) -> int | None:
    for token in version_text.split('"')[1:2]:
        head = token.split(".")[0]
        if head == "1":
            return int(token.split(".")[1])
        if head.isdigit():
            return int(head)
    return None


def jars(settings: Settings) -> Path:
    """The folder of the broker's jars, resolved once with Maven and cached."""
    libs = settings.cache_dir / f"kafka-{settings.kafka_version}" / "libs"
    return maven.resolve(POM, libs, "kafka.version", settings.kafka_version, "Apache Kafka")


def new_cluster_id() -> str:
    """A random KRaft cluster id, drawn the way Kafka's `Uuid.randomUuid()` draws one: URL-safe base64 of
    a random UUID, drawn again when it is reserved (all zeros, or 1) or begins with '-' (1 draw in 64),
    which a command line could take for an option."""
    reserved = {bytes(16), bytes(15) + b"\x01"}
    while True:
        raw = uuid.uuid4().bytes
        cid = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if raw not in reserved and not cid.startswith("-"):
            return cid


def valid_cluster_id(cid: str) -> bool:
    """`cid` is an id `new_cluster_id` could have drawn: 22 URL-safe base64 characters that are the
    canonical form of 16 bytes (what Kafka's `Uuid.fromString` reads and `Uuid.toString` writes), not a
    reserved id, and not beginning with '-'."""
    if len(cid) != 22 or cid.startswith("-"):
        return False
    try:
        raw = base64.urlsafe_b64decode(cid + "==")
    except ValueError:  # binascii.Error, or a character outside ASCII
        return False
    canonical = base64.urlsafe_b64encode(raw).decode().rstrip("=") == cid
    return canonical and raw not in {bytes(16), bytes(15) + b"\x01"}


@dataclass(frozen=True)
class KafkaNode:
    """One combined broker+controller node."""

    settings: Settings
    name: str  # "kafka" or "kafka-1".."kafka-3"
    node_id: int
    port: int
    controller_port: int
    voters: str
    folder: Path

    @property
    def managed(self) -> Managed:
        s = self.settings
        return Managed(self.name, s.data_dir / "run", s.data_dir / "logs", marker=str(self.folder))

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def properties(self, replication: int) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={self.node_id}",
                f"controller.quorum.voters={self.voters}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={self.folder / 'data'}",
                "num.partitions=1",
                "auto.create.topics.enable=false",
                f"default.replication.factor={replication}",
                f"offsets.topic.replication.factor={replication}",
                f"transaction.state.log.replication.factor={replication}",
                f"transaction.state.log.min.isr={min(replication, 2)}",
                f"share.coordinator.state.topic.replication.factor={replication}",
                f"share.coordinator.state.topic.min.isr={min(replication, 2)}",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.ms=-1",
                "log.retention.bytes=-1",
                # A broker's defaults (3 network threads, 8 I/O threads) are for a server of many cores; on
                # the 2-core machine beside PostgreSQL and the services, fewer threads switch less.
                "num.network.threads=1",
                "num.io.threads=2",
                "",
            ]
        )

    def log4j(self) -> str:
        return "\n".join(
            [
                "status = warn",
                "appender.file.type = File",
                "appender.file.name = file",
                f"appender.file.fileName = {self.managed.log_file}",
                "appender.file.append = true",
                "appender.file.layout.type = PatternLayout",
                "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                "rootLogger.level = INFO",
                "rootLogger.appenderRef.file.ref = file",
                "logger.kafka.name = kafka",
                "logger.kafka.level = INFO",
                "logger.state.name = state.change.logger",
                "logger.state.level = WARN",
                "",
            ]
        )

    def start(self, cluster_id: str, replication: int) -> None:
        if self.managed.running():
            return
        if port_open(self.port) or port_open(self.controller_port):
            raise StackError(
                f"port {self.port} or {self.controller_port} (for {self.name}) is taken by another process; "
                "stop it, or choose other ports (VANTHU_KAFKA_PORT / VANTHU_CLUSTER_BASE_PORT)"
            )
        java = require_java()
        libs = jars(self.settings)
        self.folder.mkdir(parents=True, exist_ok=True)
        props = self.folder / "server.properties"
        props.write_text(self.properties(replication))
        log4j = self.folder / "log4j2.properties"
        log4j.write_text(self.log4j())
        classpath = f"{libs}/*"
        # The serial collector: a heap of 512 MB needs no parallel or concurrent collector threads.
        jvm = [
            java,
            f"-Xmx{self.settings.kafka_heap}",
            "-Xms128m",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
        ]
        jvm += [f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
        if not (self.folder / "data" / "meta.properties").exists():
            res = subprocess.run(
                # `--opt=value`, one argv element each: an id beginning with '-' is never read as an option
                [
                    *jvm,
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cluster_id}",
                    f"--config={props}",
                ],
                capture_output=True,
                text=True,
            )
            if res.returncode != 0:
                raise StackError(
                    f"formatting KRaft storage for {self.name} failed:\n{res.stdout}{res.stderr}"
                )
        say(f"starting {self.name} (KRaft) on {self.bootstrap}")
        self.managed.start([*jvm, "kafka.Kafka", str(props)])

    def wait_listening(self, timeout: float = 120) -> None:
        def ok() -> bool:
            if not self.managed.alive():
                raise StackError(f"{self.name} exited during start-up; see {self.managed.log_file}")
            return port_open(self.port)

        wait_for(f"{self.name} listener", ok, timeout, log=self.managed.log_file)


def single_node(settings: Settings) -> KafkaNode:
    p = settings.kafka_port
    return KafkaNode(settings, "kafka", 1, p, p + 1, f"1@127.0.0.1:{p + 1}", settings.data_dir / "kafka")


def cluster_nodes(settings: Settings) -> list[KafkaNode]:
    base = settings.cluster_base_port
    ports = [(n, base + 100 * (n - 1)) for n in (1, 2, 3)]
    voters = ",".join(f"{n}@127.0.0.1:{p + 1}" for n, p in ports)
    return [
        KafkaNode(settings, f"kafka-{n}", n, p, p + 1, voters, settings.data_dir / "cluster" / f"node{n}")
        for n, p in ports
    ]


def cluster_id_for(folder: Path) -> str:
    """The cluster id kept in `folder/cluster.id`, drawn on first use. A stored id that is unusable (it
    begins with '-', or is not a valid Kafka Uuid: see `valid_cluster_id`) is drawn again while no log
    dir under `folder` is formatted; once one is, the id its storage was formatted with stays."""
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "cluster.id"
    stored = f.read_text().strip() if f.exists() else ""
    # the log dirs KafkaNode.start formats: <folder>/data (single node), <folder>/node<n>/data (cluster)
    metas = [folder / "data" / "meta.properties", *sorted(folder.glob("node*/data/meta.properties"))]
    formatted = [m for m in metas if m.exists()]
    if valid_cluster_id(stored) or (stored and formatted):
        return stored
    if formatted:  # the id file is lost but the storage is formatted: take the id it was formatted with
        for line in formatted[0].read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id" and value.strip():
                f.write_text(value.strip())
                return value.strip()
    if stored:
        say(
            f"drawing a new Kafka cluster id: {stored!r} in {f} is unusable and nothing was formatted with it"
        )
    f.write_text(new_cluster_id())
    return f.read_text().strip()


def round_trip(bootstrap: str, timeout: float = 60) -> None:
    """Produce one record and consume it back: the broker really serves clients."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    ensure_topic(bootstrap, CHECK_TOPIC, 1, configs={"retention.ms": "3600000"})
    token = uuid.uuid4().hex.encode()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=30000)
    try:
        meta = producer.send(CHECK_TOPIC, token).get(timeout=timeout)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tp = TopicPartition(CHECK_TOPIC, 0)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                if any(r.value == token for r in records):
                    return
        raise StackError(f"Kafka at {bootstrap} accepted a record but did not serve it back")
    finally:
        consumer.close()


def wait_serving(bootstrap: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            round_trip(bootstrap, timeout=max(5.0, deadline - time.monotonic()))
            return
        except StackError:
            raise
        except Exception as exc:  # the broker may still be electing its controller
            last = exc
            time.sleep(0.5)
    raise StackError(f"Kafka at {bootstrap} did not serve a produce and a consume in {timeout:.0f}s: {last}")
