"""The one settings object: every knob is an environment variable with the VANTHU_ prefix."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


DEV_JWT_SECRET = "vanthu-local-development-only-hs256-secret"  # published in the source: development only


def _doc(text: str, default: Any) -> Any:
    return field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class Settings:
    """Read with `Settings.from_env()`; each field maps to VANTHU_<FIELD NAME IN CAPITALS>."""

    data_dir: Path = _doc(
        "Folder for the local stack: Postgres cluster, Kafka logs, pid files, service logs.",
        REPO_ROOT / ".stack",
    )
    cache_dir: Path = _doc(
        "Folder for downloaded Kafka jars (kept across `stack reset`).",
        Path.home() / ".cache" / "vanthu",
    )
    kafka_version: str = _doc("Apache Kafka release resolved from Maven Central.", "4.1.1")
    kafka_port: int = _doc("Loopback port of the single-node broker (its controller uses port+1).", 19092)
    kafka_bootstrap: str = _doc("Kafka bootstrap servers the services use; defaults to the local broker.", "")
    kafka_heap: str = _doc("JVM heap of each local broker.", "512m")
    cluster_base_port: int = _doc(
        "First port of the 3-broker fault-test cluster (broker n listens on base+100*(n-1)).", 19192
    )
    events_topic: str = _doc("Kafka topic that carries every document event.", "vanthu.events")
    partitions: int = _doc("Partitions of the events topic.", 6)
    anchors_topic: str = _doc(
        "Compacted Kafka topic of the signed anchors and running head (the audit's witness). "
        "Default: <events topic>.anchors.",
        "",
    )
    anchor_key_file: str = _doc(
        "Ed25519 private key (PEM) that signs anchors; kept off the database's machine in production. "
        "The relay makes it (and <file>.pub) if missing. Default: <data_dir>/anchor-ed25519.key.",
        "",
    )
    anchor_public_key_file: str = _doc(
        "Public key (PEM) `vanthu audit verify` checks signatures with; default: the signing key file's "
        "<file>.pub, else the signing key itself.",
        "",
    )
    witness_file: str = _doc(
        "File the relay keeps the newest signed anchor and head in, for the operator to copy elsewhere. "
        "Default: <data_dir>/witness/<events topic>.json.",
        "",
    )
    witness_interval: float = _doc("Seconds between signed heads (published also while idle).", 2.0)
    pg_port: int = _doc("Loopback port of the local PostgreSQL cluster.", 15432)
    pg_database: str = _doc("Database name of the local cluster.", "vanthu")
    pg_dsn: str = _doc("PostgreSQL DSN the services use; defaults to the local cluster.", "")
    pg_app_dsn: str = _doc(
        "DSN of the non-superuser role the services write with (INSERT/SELECT only on events); "
        "defaults to VANTHU_PG_DSN with the user vanthu_app.",
        "",
    )
    pg_processor_dsn: str = _doc(
        "DSN of the processors' own role (read models, offsets, dead letters, feed; no write to events, "
        "anchors or snapshots); defaults to VANTHU_PG_DSN with the user vanthu_processor.",
        "",
    )
    offices_file: Path = _doc(
        "JSON file of the offices and their units (id, name, code, parent_id, units).",
        REPO_ROOT / "deploy" / "offices.json",
    )
    api_host: str = _doc("Address the HTTP API binds to.", "127.0.0.1")
    api_port: int = _doc("Port of the HTTP API.", 18000)
    jwt_secret: str = _doc(
        "HS256 secret that signs and verifies local tokens (`vanthu token`); change it outside a laptop.",
        DEV_JWT_SECRET,
    )
    jwks_file: str = _doc(
        "Path or URL of a JWKS document; when set, RS256 tokens are verified against its keys.", ""
    )
    jwt_issuer: str = _doc("Expected `iss` claim of tokens (empty: not checked).", "")
    jwt_audience: str = _doc(
        "The `aud` claim every token must carry (local tokens are minted with it).", "vanthu"
    )
    jwt_max_lifetime_hours: int = _doc(
        "Longest lifetime (`exp` - `iat`) a token may have; longer ones are refused.", 24
    )
    jwt_leeway_seconds: int = _doc("Clock skew tolerated on a token's `exp`, `iat` and `nbf`.", 5)
    environment: str = _doc(
        "`development` or `production`; in production the API refuses to start with the built-in HS256 "
        "secret unless a JWKS is configured (HS256 is then off).",
        "development",
    )
    feed_streams_per_user: int = _doc(
        "Live feed (SSE) streams one user may hold open at once; more: 429.", 10
    )
    feed_streams_total: int = _doc("Live feed (SSE) streams one API process serves at once; more: 429.", 1000)
    max_body_bytes: int = _doc(
        "Largest request body (JSON) the API reads; larger: 413. File uploads have their own limit.", 262144
    )
    cors_origins: str = _doc("Comma-separated origins allowed by CORS (e.g. http://localhost:5173).", "")
    due_soon_days: int = _doc("Working days before a due date when an assignment counts as due soon.", 3)
    read_wait_ms: int = _doc("Longest wait of a read given ?after=<position> for the read models.", 5000)
    relay_wake_gap: float = _doc(
        "Seconds an API process lets pass after waking the relay before it wakes it again (the commits of "
        "the gap get one wake-up at its end).",
        0.01,
    )
    processor_group: str = _doc(
        "Consumer group of the read-model processors (also the faust app id).", "vanthu-processors"
    )
    processor_instance_id: str = _doc(
        "Static group membership id of one worker, so a restarted worker takes its partitions back at once.",
        "",
    )
    processor_workers: int = _doc(
        "Processor worker processes `make run` starts, one consumer group sharing the topic's partitions "
        "(a document's events are in one partition, so each is applied by one worker at a time).",
        2,
    )
    processor_batch: int = _doc("Most records a processor applies in one transaction.", 2000)
    processor_lanes: int = _doc(
        "Writers in one processor worker, each applying its share of the partitions on a connection of its "
        "own (one's database statements overlap another's Python).",
        2,
    )
    processor_within: float = _doc(
        "Longest a processor batch waits for more records (what one fetch brought goes at once).", 0.005
    )
    processor_session_timeout: float = _doc(
        "Seconds before a dead processor worker's partitions move to another.", 10.0
    )
    processor_saga: bool = _doc("Run the delivery saga and the deadline chaser in the processors.", True)
    demo: bool = _doc("`make run` seeds a year of demo documents into an empty store (false: skip).", True)
    processor_chase_interval: float = _doc("Seconds between deadline-chasing rounds.", 60.0)
    files_backend: str = _doc(
        "Where file bytes are kept: `directory` (a folder, the default) or `s3` (an S3-compatible store).",
        "directory",
    )
    files_dir: Path = _doc(
        "Folder of the directory file store (and of upload spooling); empty: <data dir>/files.", Path("")
    )
    files_max_bytes: int = _doc(
        "Largest file POST /v1/files accepts, in bytes (413 past it).", 100 * 1024 * 1024
    )
    files_unattached_hours: float = _doc(
        "Hours after which an uploaded file that no document attaches is collected.", 24.0
    )
    s3_endpoint: str = _doc(
        "URL of the S3-compatible server (empty: AWS's regional endpoint); http:// URLs are allowed.", ""
    )
    s3_bucket: str = _doc("Bucket of the s3 file store (it must exist).", "vanthu-files")
    s3_region: str = _doc("Region of the s3 file store.", "us-east-1")
    s3_access_key: str = _doc("Access key id of the s3 file store (empty: from the AWS_ environment).", "")
    s3_secret_key: str = _doc(
        "Secret access key of the s3 file store (empty: from the AWS_ environment).", ""
    )
    trust_roots: str = _doc(
        "PEM file(s), comma-separated, of the CA certificates a signed PDF must chain to (the Government "
        "CA roots are in no OS store); empty: no signature is trusted.",
        "",
    )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ) if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"VANTHU_{f.name.upper()}")
            if raw == "" and f.name == "jwt_secret":
                # an empty secret must not fall back to the development secret published in the source
                raise ValueError("VANTHU_JWT_SECRET is set but empty: give a secret of at least 32 bytes")
            if raw is None or raw == "":
                continue
            default: Any = f.default
            kind: type = type(default)
            try:
                if isinstance(default, bool):
                    values[f.name] = _boolean(raw)
                    continue
                values[f.name] = Path(raw) if isinstance(default, Path) else kind(raw)
            except ValueError as exc:
                raise ValueError(f"VANTHU_{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from exc
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def files_root(self) -> Path:
        """The directory file store's folder."""
        return self.files_dir if str(self.files_dir) not in ("", ".") else self.data_dir / "files"

    @property
    def files_spool_dir(self) -> Path:
        """Where uploads are written while they arrive, before they are stored under their hash."""
        return self.files_root / ".spool"

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def dsn(self) -> str:
        return self.pg_dsn or f"postgresql://vanthu@127.0.0.1:{self.pg_port}/{self.pg_database}"

    @property
    def app_dsn(self) -> str:
        """The DSN of the services' own role (vanthu_app), which cannot change or delete events."""
        return self.pg_app_dsn or with_user(self.dsn, APP_ROLE)

    @property
    def processor_dsn(self) -> str:
        """The DSN of the processors' own role (vanthu_processor), which cannot write the event store."""
        return self.pg_processor_dsn or with_user(self.dsn, PROCESSOR_ROLE)

    @property
    def anchor_key_path(self) -> Path:
        return Path(self.anchor_key_file) if self.anchor_key_file else self.data_dir / "anchor-ed25519.key"

    @property
    def witness_path(self) -> Path:
        return (
            Path(self.witness_file)
            if self.witness_file
            else self.data_dir / "witness" / f"{self.events_topic}.json"
        )

    @property
    def anchors_topic_name(self) -> str:
        """The anchors follow their events topic unless set, so every store has a witness of its own."""
        return self.anchors_topic or f"{self.events_topic}.anchors"

    def dsn_for(self, database: str) -> str:
        """The DSN of another database on the same server."""
        base, _, _ = self.dsn.rpartition("/")
        return f"{base}/{database}"


APP_ROLE = "vanthu_app"  # created by migration 0002; INSERT/SELECT only on the event store
PROCESSOR_ROLE = "vanthu_processor"  # created by migration 0061; the read models, never the event store


def with_user(dsn: str, user: str) -> str:
    """`dsn` with its user replaced (and any password dropped)."""
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        raise ValueError(f"not a URL-style DSN: {dsn!r}")
    _, at, host = rest.rpartition("@")
    return f"{scheme}://{user}@{host if at else rest}"


def _boolean(raw: str) -> bool:
    if raw.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def documented() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, for the README and `vanthu settings`."""
    rows = []
    for f in fields(Settings):
        rows.append((f"VANTHU_{f.name.upper()}", str(f.default), f.metadata["doc"]))
    return rows
