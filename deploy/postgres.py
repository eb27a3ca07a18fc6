"""The local PostgreSQL cluster: Debian's server binaries, a project-local data folder, its own port."""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from deploy.config.settings import Settings
from deploy.procs import StackError, port_open, say, wait_for

SERVICE_USER = "vanthu-pg"  # initdb refuses to run as root, so root runs the cluster as this user


def server_bin_dir(install: bool = True) -> Path:
    """The newest installed server's bin folder; installs Debian's server when none is found."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    if not install:
        raise StackError("no PostgreSQL server binaries under /usr/lib/postgresql")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError(
            "PostgreSQL server binaries are missing; install them with "
            "`sudo apt-get install -y postgresql postgresql-contrib`"
        )
    say("PostgreSQL server not found: installing Debian's postgresql with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql", "postgresql-contrib"],
        check=True,
        env=env,
    )
    return server_bin_dir(install=False)


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parent.parent.name)
    except ValueError:
        return 0.0


class Postgres:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "postgres"
        self.log_file = settings.data_dir / "logs" / "postgres.log"
        pointer = settings.data_dir / "postgres.location"
        if pointer.exists():  # an earlier `up` had to keep the cluster outside the project (see _relocate)
            self.root = Path(pointer.read_text().strip())
            self.log_file = self.root / "postgres.log"
        self.data = self.root / "data"

    # running as another user (when we are root) ------------------------------------------------
    def _user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
                check=True,
            )
        return SERVICE_USER

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        user = self._user()
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        return subprocess.run(argv, check=check, capture_output=True, text=True)

    def _own(self, *paths: Path) -> None:
        user = self._user()
        if user:
            for p in paths:
                shutil.chown(p, user, user)

    def own_tree(self, top: Path) -> None:
        """`top` and everything in it belong to the cluster's user (a restored data folder)."""
        user = self._user()
        if user:
            for folder, _, files in os.walk(top):
                shutil.chown(folder, user, user)
                for name in files:
                    shutil.chown(os.path.join(folder, name), user, user)

    def _relocate(self) -> None:
        """As root, the cluster runs as SERVICE_USER, who must be able to reach its folder. A checkout
        under a private directory (e.g. /root, mode 700) is out of its reach: then the cluster lives in
        /var/lib/vanthu/<hash of the project folder>, and .stack/postgres.location points there."""
        user = self._user()
        if user is None or self.root != self.settings.data_dir / "postgres":
            return
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        reachable = subprocess.run(
            ["runuser", "-u", user, "--", "test", "-x", str(self.settings.data_dir)], capture_output=True
        )
        if reachable.returncode == 0:
            return
        digest = hashlib.sha256(str(self.settings.data_dir.resolve()).encode()).hexdigest()[:12]
        self.root = Path("/var/lib/vanthu") / digest / "postgres"
        self.data = self.root / "data"
        self.log_file = self.root / "postgres.log"
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in (self.root.parent.parent, self.root.parent):
            folder.chmod(0o755)
        (self.settings.data_dir / "postgres.location").write_text(f"{self.root}\n")
        link = self.settings.data_dir / "logs" / "postgres.log"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists() and not link.is_symlink():
            link.symlink_to(self.log_file)  # `vanthu stack logs postgres` still finds it
        say(f"{self.settings.data_dir} is out of reach of the user {user}; the cluster lives in {self.root}")

    # lifecycle ----------------------------------------------------------------------------------
    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        bin_dir = server_bin_dir(install=False) if self._has_server() else None
        if bin_dir is None:
            return False
        return (
            self._run([str(bin_dir / "pg_ctl"), "status", f"--pgdata={self.data}"], check=False).returncode
            == 0
        )

    def _has_server(self) -> bool:
        return bool(glob.glob("/usr/lib/postgresql/*/bin/postgres"))

    def up(self) -> None:
        port = self.settings.pg_port
        for path in (self.data, self.log_file):
            # pg_ctl runs postgres through `sh -c` with its paths in double quotes: keep them literal
            if any(c in str(path) for c in '"$`\\'):
                raise StackError(
                    f'{path} holds one of " $ ` \\, which pg_ctl would hand to the shell; '
                    "choose another VANTHU_DATA_DIR"
                )
        if self.running():
            say(f"postgres already running on 127.0.0.1:{port}")
            self._ensure_database()
            return
        if port_open(port):
            raise StackError(
                f"port {port} is taken by another process; stop it or set VANTHU_PG_PORT to a free port"
            )
        bin_dir = server_bin_dir()
        self._relocate()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self._own(self.root)
        if not (self.data / "PG_VERSION").exists():
            say(f"initdb: new PostgreSQL cluster in {self.data}")
            res = self._run(
                [
                    str(bin_dir / "initdb"),
                    f"--pgdata={self.data}",
                    "--username=vanthu",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=False,
            )
            if res.returncode != 0:
                raise StackError(f"initdb failed:\n{res.stdout}\n{res.stderr}")
            self._write_conf()
        if not self.log_file.exists():
            self.log_file.touch()
        self._own(self.log_file)
        say(f"starting postgres on 127.0.0.1:{port}")
        res = self._run(
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "--wait",
                "--timeout=60",
                f"--pgdata={self.data}",
                f"--log={self.log_file}",
                f"--options=-p {int(port)}",
            ],
            check=False,
        )
        if res.returncode != 0:
            raise StackError(f"postgres did not start: {res.stderr.strip()}; see {self.log_file}")
        wait_for("postgres", self._accepts_query, 60, log=self.log_file)
        self._ensure_database()

    def _write_conf(self) -> None:
        extra = "\n".join(
            [
                "# vanthu local stack",
                "listen_addresses = '127.0.0.1'",
                "unix_socket_directories = ''",
                "max_connections = 300",
                "shared_buffers = 512MB",
                "fsync = on",
                "synchronous_commit = on",
                "wal_level = replica",
                "max_wal_size = 4GB",
                "log_min_duration_statement = -1",
                "timezone = 'UTC'",
                "",
            ]
        )
        conf = self.data / "postgresql.conf"
        # the path goes in as $1, never into the script's text
        self._run(["sh", "-c", f"cat >> \"$1\" <<'EOF'\n{extra}EOF", "sh", str(conf)])

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        bin_dir = server_bin_dir(install=False)
        return subprocess.run(
            [
                str(bin_dir / "psql"),
                "--host=127.0.0.1",
                f"--port={self.settings.pg_port}",
                "--username=vanthu",
                f"--dbname={database}",
                "--tuples-only",
                "--no-align",
                f"--command={sql}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    def _accepts_query(self) -> bool:
        return self._psql("select 1").stdout.strip() == "1"

    def _ensure_database(self) -> None:
        name = self.settings.pg_database
        literal = "'" + name.replace("'", "''") + "'"  # VANTHU_PG_DATABASE is the user's: quote it
        identifier = '"' + name.replace('"', '""') + '"'
        exists = self._psql(f"select 1 from pg_database where datname = {literal}").stdout.strip()
        if exists != "1":
            res = self._psql(f"create database {identifier}")
            if res.returncode != 0:
                raise StackError(f"could not create database {name}: {res.stderr.strip()}")
            say(f"created database {name}")

    def down(self) -> bool:
        if not self.running():
            return False
        bin_dir = server_bin_dir(install=False)
        self._run(
            [str(bin_dir / "pg_ctl"), "stop", "--wait", "--mode=fast", f"--pgdata={self.data}"], check=False
        )
        return True

    def restart(self) -> None:
        self.down()
        self.up()

    def kill(self) -> None:
        """kill -9 the postmaster, for fault tests; `up` recovers the cluster."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().splitlines()[0])
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                return
            # wait until it is gone, so an `up` right after sees a stopped cluster and starts it
            wait_for("the killed postmaster to exit", lambda: not Path(f"/proc/{pid}").exists(), 30)
