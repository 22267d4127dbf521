"""Collectors sharing one PostgreSQL database: one leads, all hear what the others ingest.

Leadership is a session-level advisory lock (`pg_try_advisory_lock`) held on a connection of its
own, outside the pool. The server releases it the moment that session ends: a leader that
exits, crashes or is killed (its socket closes), or that the server stops hearing from (TCP
keepalives on that connection: dead after about `KEEPALIVE_DEAD_S`). The others try for it every
`RETRY_S`, so one takes over within `RETRY_S` of a clean death, within `KEEPALIVE_DEAD_S +
RETRY_S` of a vanished host: under the 15 s of CONTRACT §6. A leader checks its connection every
`CHECK_S`; if it fails, it stops leading at once (another may already have taken over).

Every ingest transaction that stores samples sends `NOTIFY slawatch_ingest` (delivered on
commit) with its collector's token, agent and checks; the others' notifications reach
`on_remote_ingest`, which drops stale status caches and wakes the alert evaluator.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import asyncpg
import structlog

from slawatch.collector.store.coordination import RemoteIngest

log = structlog.get_logger()

LEADER_LOCK = (0x534C4157, 2)
"""(namespace, key) of the advisory lock the leader holds."""
CHANNEL = "slawatch_ingest"
RETRY_S = 2.0
CHECK_S = 2.0
KEEPALIVE = {"tcp_keepalives_idle": "3", "tcp_keepalives_interval": "2",
             "tcp_keepalives_count": "3"}  # fmt: skip
KEEPALIVE_DEAD_S = 9.0
MAX_PAYLOAD = 7900
"""NOTIFY payloads stop at 8000 bytes: a longer list of checks is sent as "every check"."""


def ingest_payload(token: str, agent: str, accepted: int, checks: frozenset[str]) -> str:
    text = f"{token} {agent} {accepted} {','.join(sorted(checks))}"
    return text if len(text) <= MAX_PAYLOAD else f"{token} {agent} {accepted} *"


class PostgresCoordination:
    shared = True

    def __init__(self, url: str, token: str) -> None:
        self._url = url
        self._token = token
        self._connection: asyncpg.Connection | None = None
        self._leader = asyncio.Event()
        self._follower = asyncio.Event()
        self._follower.set()
        self._task: asyncio.Task[None] | None = None
        self._on_remote_ingest: RemoteIngest | None = None

    @property
    def is_leader(self) -> bool:
        return self._leader.is_set()

    async def start(self, on_remote_ingest: RemoteIngest) -> None:
        self._on_remote_ingest = on_remote_ingest
        self._task = asyncio.create_task(self._run(), name="postgres-coordination")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._disconnect()

    async def leading(self) -> None:
        await self._leader.wait()

    async def lost(self) -> None:
        await self._follower.wait()

    async def _run(self) -> None:
        while True:
            try:
                if self._connection is None or self._connection.is_closed():
                    await self._connect()
                if not self.is_leader:
                    if await self._connection_call("SELECT pg_try_advisory_lock($1, $2)"):
                        self._set_leader(True)
                        log.info("alert_leader_acquired")
                    else:
                        await asyncio.sleep(RETRY_S)
                        continue
                await asyncio.sleep(CHECK_S)
                await self._connection_call("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self.is_leader:
                    log.warning("alert_leader_lost", error=str(error))
                else:
                    log.warning("coordination_connection_failed", error=str(error))
                self._set_leader(False)
                await self._disconnect()
                await asyncio.sleep(RETRY_S)

    async def _connection_call(self, sql: str) -> object:
        assert self._connection is not None
        args = LEADER_LOCK if "$1" in sql else ()
        return await self._connection.fetchval(sql, *args, timeout=CHECK_S * 2)

    def _set_leader(self, leading: bool) -> None:
        if leading:
            self._follower.clear()
            self._leader.set()
        else:
            self._leader.clear()
            self._follower.set()

    async def _connect(self) -> None:
        connection = await asyncpg.connect(
            self._url,
            timeout=10,
            server_settings={"application_name": "slawatch-coordination", **KEEPALIVE},
        )
        await connection.add_listener(CHANNEL, self._heard)
        self._connection = connection

    async def _disconnect(self) -> None:
        self._set_leader(False)
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=5)
            if not connection.is_closed():
                connection.terminate()

    def _heard(self, connection: object, pid: int, channel: str, payload: str) -> None:
        token, _, rest = payload.partition(" ")
        if token == self._token or self._on_remote_ingest is None:
            return
        agent, accepted, checks = rest.split(" ", 2)
        self._on_remote_ingest(
            agent, int(accepted), None if checks == "*" else frozenset(checks.split(","))
        )


def new_token() -> str:
    return secrets.token_hex(8)
