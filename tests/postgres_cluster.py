"""A throwaway PostgreSQL cluster for the tests: Debian's PostgreSQL server (installed by
`scripts/test`), `initdb` in a temporary folder, `pg_ctl start` on a free port of 127.0.0.1 with
its unix socket in that folder, stopped and removed at the end of the session (also on failure).

`initdb` refuses to run as root: as root the cluster runs as the `postgres` user (`runuser`),
otherwise as the current user. Each test gets a database of its own (`new_database`), made by
CREATE DATABASE from an empty template: a few milliseconds.

Without a PostgreSQL server the tests that need one are skipped with the reason, except under
CI=true, where they fail: CI must run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.support import free_port

T = TypeVar("T")
SEARCH = ("/usr/lib/postgresql/*/bin",)
START_TIMEOUT_S = 60
SETTINGS = (
    # a test cluster: no durability needed, quick to start, enough connections for two collectors
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
    "shared_buffers=64MB",
    "listen_addresses='127.0.0.1'",
)


class PostgresMissing(Exception):
    """No PostgreSQL server on this machine."""


def server_binaries() -> Path:
    """The folder of `initdb`, `pg_ctl` and `postgres`: on PATH, else Debian's newest."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob(f"{SEARCH[0]}/initdb"), key=_version_key)
    if not found:
        raise PostgresMissing(
            "PostgreSQL server not installed (no initdb on PATH nor in /usr/lib/postgresql/*/bin):"
            " run scripts/test, or apt-get install postgresql"
        )
    return Path(found[-1]).parent


def _version_key(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


@dataclass
class Cluster:
    folder: Path
    port: int
    user: str
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _admins: dict[str, Admin] = field(default_factory=dict)

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` with psql as the cluster's superuser; its output."""
        result = subprocess.run(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", self.user, "-d", database, "-c", sql],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def admin(self, database: str) -> Admin:
        """A superuser connection to `database`, kept for the session."""
        if database not in self._admins:
            self._admins[database] = Admin(self.url(database))
        return self._admins[database]

    def close_admins(self) -> None:
        for admin in self._admins.values():
            admin.close()
        self._admins.clear()

    def new_database(self, template: str = "template0") -> str:
        """A new database, a copy of `template` (empty by default); its URL."""
        name = f"t{os.getpid()}_{next(self.numbers)}"
        self.psql(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY WAL_LOG")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Admin:
    """A connection for sync test code (fixtures, factories), its event loop in a thread of its
    own, so that it works inside and outside a running loop alike."""

    def __init__(self, url: str) -> None:
        import asyncpg

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._connection = self._run(asyncpg.connect(url))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(120)

    def execute(self, sql: str) -> str:
        return self._run(self._connection.execute(sql))

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._run(self._connection.fetch(sql))]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self._connection.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _as_cluster_user(command: Sequence[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A cluster started for the block, stopped and removed after it."""
    binaries = server_binaries()
    folder = Path(tempfile.mkdtemp(prefix="slawatch-pg-"))
    user = "postgres" if os.geteuid() == 0 else _current_user()
    data = folder / "data"
    started = False
    try:
        (folder / "socket").mkdir()
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
            shutil.chown(folder / "socket", "postgres")
        _run(_as_cluster_user([str(binaries / "initdb"), "-D", str(data), "-U", user,
                               "--auth=trust", "-E", "UTF8", "--no-sync"]))  # fmt: skip
        port = free_port()
        options = " ".join(f"-c {setting}" for setting in SETTINGS)
        options += f" -p {port} -k {folder / 'socket'}"
        _run(_as_cluster_user([str(binaries / "pg_ctl"), "-D", str(data), "-l",
                               str(folder / "server.log"), "-o", options, "-w",
                               "-t", str(START_TIMEOUT_S), "start"]))  # fmt: skip
        started = True
        cluster = Cluster(folder, port, user)
        _wait_ready(cluster)
        try:
            yield cluster
        finally:
            cluster.close_admins()
    finally:
        if started:
            with contextlib.suppress(Exception):
                _run(_as_cluster_user([str(binaries / "pg_ctl"), "-D", str(data), "-m",
                                       "immediate", "-w", "stop"]))  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def _run(command: Sequence[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()}")


def _wait_ready(cluster: Cluster, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            cluster.psql("SELECT 1")
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
