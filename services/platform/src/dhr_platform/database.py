"""PostgreSQL access: a pool bound to the service's own schema, and versioned SQL migrations."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy
from pydantic import BaseModel, SecretStr

from dhr_platform.settings import PlatformSettings, redact_url

# A connection as the pool lends it, or a plain one: everything that takes a connection takes both.
Connection = asyncpg.Connection | PoolConnectionProxy

PLATFORM_MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_ACQUIRE_TIMEOUT_SECONDS = 5.0

# The database cannot be reached, or is restarting: the request is not at fault and a retry later
# may succeed (an HTTP command answers 503 with Retry-After).
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    ConnectionError,  # refused or reset: no server listening, or it went away
    asyncpg.PostgresConnectionError,  # includes a connection lost in the middle of a command
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)


def lost_connection(error: BaseException) -> bool:
    """Whether `error` comes of a database connection that went away: one of
    UNAVAILABLE_ERRORS, or asyncpg refusing to go on with a connection the server cut: "the
    underlying connection is closed" (a rollback after the loss, the loss in its context), or an
    InternalClientError ("cannot switch to state ..."), the protocol left mid-operation."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, (*UNAVAILABLE_ERRORS, asyncpg.exceptions.InternalClientError)):
            return True
        if isinstance(seen, asyncpg.InterfaceError) and "connection is closed" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class DatabaseAccessError(RuntimeError):
    """PostgreSQL could not be used as configured; the message says why."""


@dataclass(frozen=True)
class DatabaseConnection:
    """The database URL with the password and TLS the settings give apart from it. A bare URL
    (tests, local tools) is used as asyncpg reads it, TLS options in its query included."""

    url: str
    password: SecretStr | None = field(default=None, repr=False)
    sslmode: str | None = None
    sslrootcert: Path | None = None
    sslcert: Path | None = None
    sslkey: Path | None = None

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> DatabaseConnection:
        """The connection the settings describe (a password file is read now)."""
        return cls(settings.database_url, settings.database_password_secret(),
                   settings.database_sslmode, settings.database_sslrootcert,
                   settings.database_sslcert, settings.database_sslkey)

    @classmethod
    def of(cls, target: DatabaseConnection | str) -> DatabaseConnection:
        return target if isinstance(target, DatabaseConnection) else cls(target)

    def ssl_context(self) -> ssl.SSLContext | bool | None:
        """What asyncpg's `ssl` takes for DHR_DATABASE_SSLMODE, as libpq reads the mode:
        require encrypts without checking the server (unless a root certificate is given, which
        makes it verify-ca), verify-ca checks the certificate's chain, verify-full its host name
        too. None: the URL decides. A context makes TLS mandatory: no plaintext fallback."""
        if self.sslmode is None:
            return None
        if self.sslmode == "disable":
            return False
        verify = self.sslmode in {"verify-ca", "verify-full"} or self.sslrootcert is not None
        try:
            context = ssl.create_default_context(cafile=self.sslrootcert) if verify \
                else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = self.sslmode == "verify-full"
            context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
            if self.sslcert is not None:
                context.load_cert_chain(self.sslcert, self.sslkey)
        except (OSError, ssl.SSLError) as error:
            raise DatabaseAccessError(f"PostgreSQL TLS files (DHR_DATABASE_SSLROOTCERT, "
                                      f"_SSLCERT, _SSLKEY): {error}") from error
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments of asyncpg.connect and asyncpg.create_pool."""
        options: dict[str, Any] = {"dsn": self.url}
        if self.password is not None:
            options["password"] = self.password.get_secret_value()
        context = self.ssl_context()
        if context is not None:
            options["ssl"] = context
        return options

    def describe(self) -> str:
        """For logs and errors: the URL without its password, and the TLS mode."""
        return f"{redact_url(self.url)} (TLS {self.sslmode or 'as the URL says'})"

    def __repr__(self) -> str:
        return f"DatabaseConnection({self.describe()})"

    async def connect(self, **options: Any) -> asyncpg.Connection:
        """One connection; a refused certificate is reported as such."""
        try:
            return await asyncpg.connect(**self.connect_options(), **options)
        except ssl.SSLCertVerificationError as error:
            raise DatabaseAccessError(self._certificate_refused(error)) from error

    def _certificate_refused(self, error: ssl.SSLCertVerificationError) -> str:
        return (f"PostgreSQL {self.describe()}: the server's certificate was refused "
                f"({error.verify_message}): check DHR_DATABASE_SSLROOTCERT and, with "
                f"verify-full, that the certificate names {urlsplit(self.url).hostname}")


@dataclass(frozen=True)
class MigrationSource:
    """A folder of `NNNN_name.sql` files, applied in order, each once."""

    name: str
    directory: Path


def platform_migrations() -> MigrationSource:
    return MigrationSource("platform", PLATFORM_MIGRATIONS)


def encode_json(value: object) -> str:
    """A json/jsonb parameter's text: a pydantic model serialises itself (in its JSON mode, a
    fraction of the time of dumping it to a dict and that to text), anything else with json."""
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value)


async def _init_connection(connection: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await connection.set_type_codec(
            json_type, encoder=encode_json, decoder=json.loads, schema="pg_catalog"
        )


async def _no_session_state_to_reset(connection: asyncpg.Connection) -> None:
    """Nothing to undo when a connection goes back to the pool (asyncpg's default runs a reset
    query, a round trip per use): our code sets no session state on pooled connections.
    Settings are `SET LOCAL`, advisory locks are transaction-scoped or released by their one
    holder (the relay, which ends its session when it cannot), and nothing LISTENs on a pooled
    connection. asyncpg still rolls back a transaction left open before calling this."""


def _check_schema(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


class BoundedPool(asyncpg.Pool):
    """A pool whose `acquire` waits at most `acquire_timeout` seconds by default.

    asyncpg waits for a free connection for ever: with every connection held by slow work, a
    request would hang until its client gave up. Bounded, it fails with TimeoutError, which the
    HTTP layer answers with 503 and Retry-After, and consumers and the relay retry.
    """

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def create_pool(database: DatabaseConnection | str, schema: str, *, min_size: int = 1,
                      max_size: int = 10,
                      acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT_SECONDS) -> asyncpg.Pool:
    """A pool whose connections see the service's schema first and decode JSON columns, and
    whose callers wait at most `acquire_timeout` seconds for a free connection."""
    _check_schema(schema)
    connection = DatabaseConnection.of(database)
    admin = await connection.connect()
    try:
        await admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await admin.close()
    # asyncpg.create_pool's own defaults, spelled out because it cannot build a subclass.
    pool = BoundedPool(
        **connection.connect_options(),
        acquire_timeout=acquire_timeout,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        init=_init_connection,
        reset=_no_session_state_to_reset,
        server_settings={"search_path": schema, "application_name": f"dhr-{schema}"},
    )
    await pool
    return pool


def _migration_files(source: MigrationSource) -> list[tuple[int, str, str]]:
    files = []
    for path in sorted(source.directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path} is not named NNNN_name.sql")
        files.append((int(match.group(1)), path.name, path.read_text()))
    return files


async def migrate(pool: asyncpg.Pool, schema: str, sources: list[MigrationSource]) -> list[str]:
    """Apply pending migrations of every source, in order, under a lock; return what was applied."""
    _check_schema(schema)
    lock_key = int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big", signed=True)
    applied: list[str] = []
    async with pool.acquire() as connection, connection.transaction():
        # One migrator at a time per schema, even with many replicas starting together.
        await connection.execute("SELECT pg_advisory_xact_lock($1)", lock_key)
        await connection.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   source text NOT NULL, version integer NOT NULL, name text NOT NULL,
                   checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (source, version))"""
        )
        rows = await connection.fetch("SELECT source, version, checksum FROM schema_migrations")
        done: dict[tuple[str, int], str] = {(r["source"], r["version"]): r["checksum"] for r in rows}
        for source in sources:
            for version, name, sql in _migration_files(source):
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                previous = done.get((source.name, version))
                if previous is not None:
                    if previous != checksum:
                        raise RuntimeError(
                            f"migration {source.name}/{name} changed after it was applied"
                        )
                    continue
                await connection.execute(sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (source, version, name, checksum)"
                    " VALUES ($1, $2, $3, $4)",
                    source.name, version, name, checksum,
                )
                applied.append(f"{source.name}/{name}")
    return applied


async def ping(pool: asyncpg.Pool) -> Any:
    """A cheap round trip, for readiness."""
    return await pool.fetchval("SELECT 1")


@contextlib.asynccontextmanager
async def indexes_set_aside(connection: Connection, table: str, *,
                            maintenance_work_mem: str = "256MB") -> AsyncIterator[None]:
    """Drop `table`'s indexes (and its primary key and unique constraints, unless a foreign key
    needs them) for a bulk load inside the caller's transaction, and build them again, exactly as
    they were defined, when the load is done: building an index once, by sorting, is several
    times faster than maintaining it row by row. The table is expected locked (an index dropped
    in a transaction is gone for nobody else until it commits, and is back by then).
    `maintenance_work_mem` is the sorts' memory for the rest of the transaction."""
    await connection.execute("SELECT set_config('maintenance_work_mem', $1, true)",
                             maintenance_work_mem)
    constraints = await connection.fetch(
        "SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint k"
        " WHERE conrelid = $1::regclass AND contype IN ('p', 'u') AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = k.conindid)"
        " ORDER BY conname", table)
    indexes = await connection.fetch(
        "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = $1::regclass AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY c.relname",
        table)
    for constraint in constraints:
        await connection.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_quoted(constraint['name'])}")
    for index in indexes:
        await connection.execute(f"DROP INDEX {_quoted(index['name'])}")
    yield
    for constraint in constraints:
        await connection.execute(f"ALTER TABLE {table} ADD CONSTRAINT {_quoted(constraint['name'])}"
                                 f" {constraint['definition']}")
    for index in indexes:
        await connection.execute(index["definition"])


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
