"""S3Proxy (an S3-speaking server over a folder), run with `java` from jars Maven resolves from Maven Central.

The tests run the file store against it, so that the s3 backend speaks to a real S3 API. It is a test
server: production uses Ceph RGW, SeaweedFS or a cloud provider's S3 (README, "Files").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy import maven
from deploy.config.settings import REPO_ROOT, Settings
from deploy.kafka import require_java
from deploy.procs import Managed, StackError, port_open, tail, wait_for

POM = REPO_ROOT / "deploy" / "s3proxy" / "pom.xml"
VERSION = "2.6.0"
IDENTITY, CREDENTIAL = "vanthu-test", "vanthu-test-secret"


def jars(settings: Settings) -> Path:
    """The folder of S3Proxy's jars, resolved once with Maven and cached beside Kafka's."""
    libs = settings.cache_dir / f"s3proxy-{VERSION}" / "libs"
    return maven.resolve(POM, libs, "s3proxy.version", VERSION, "S3Proxy")


@dataclass(frozen=True)
class S3Proxy:
    """One S3Proxy on a loopback port, keeping its buckets as folders under `folder/data`."""

    folder: Path
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def managed(self) -> Managed:
        name = f"s3proxy-{self.port}"
        return Managed(name, self.folder, self.folder, marker=f"{name}.properties")

    def settings(self, base: Settings, bucket: str) -> Settings:
        """`base` pointed at this server's `bucket` (created here: a bucket is a folder to S3Proxy)."""
        (self.folder / "data" / bucket).mkdir(parents=True, exist_ok=True)
        return base.with_(
            files_backend="s3",
            s3_endpoint=self.endpoint,
            s3_bucket=bucket,
            s3_access_key=IDENTITY,
            s3_secret_key=CREDENTIAL,
        )

    def start(self, settings: Settings, timeout: float = 120) -> None:
        java = require_java()
        libs = jars(settings)
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        props = self.folder / f"s3proxy-{self.port}.properties"
        props.write_text(
            f"s3proxy.endpoint={self.endpoint}\n"
            "s3proxy.authorization=aws-v2-or-v4\n"
            f"s3proxy.identity={IDENTITY}\n"
            f"s3proxy.credential={CREDENTIAL}\n"
            "jclouds.provider=filesystem\n"
            f"jclouds.filesystem.basedir={self.folder / 'data'}\n"
        )
        self.managed.start(
            [java, "-Xmx256m", "-cp", f"{libs}/*", "org.gaul.s3proxy.Main", "--properties", str(props)]
        )

        def up() -> bool:
            if not self.managed.alive():
                raise StackError(f"S3Proxy exited:\n{tail(self.managed.log_file)}")
            return port_open(self.port)

        wait_for(f"S3Proxy on {self.port}", up, timeout, log=self.managed.log_file)

    def stop(self) -> None:
        self.managed.stop()
