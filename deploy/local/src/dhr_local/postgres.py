"""A private PostgreSQL cluster run from the machine's server binaries (initdb, pg_ctl)."""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from dhr_local.process import InfrastructureError, run_coroutine, tail

DATABASE_NAME = "dhr"
SERVER_USER = "postgres"
_SAFE_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_bindir() -> Path:
    """PostgreSQL's server binaries: $DHR_PG_BINDIR, `pg_config --bindir`, or the newest
    /usr/lib/postgresql/<version>/bin."""
    candidates: list[Path] = []
    if configured := os.environ.get("DHR_PG_BINDIR"):
        candidates.append(Path(configured))
    if pg_config := shutil.which("pg_config"):
        completed = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if completed.returncode == 0:
            candidates.append(Path(completed.stdout.strip()))
    installed = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(installed, key=lambda path: _version_key(path.parent.name), reverse=True)
    for bindir in candidates:
        # pg_config from libpq-dev alone reports /usr/bin, which has no initdb.
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise InfrastructureError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql or set DHR_PG_BINDIR"
    )


def database_url_for(url: str, database: str) -> str:
    """The same server and credentials as `url`, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def create_database(url: str, name: str) -> str:
    """Create database `name` on the server of `url` unless it exists; return its URL."""
    _check_name(name)

    async def create() -> None:
        connection = await asyncpg.connect(url)
        try:
            exists = await connection.fetchval("select 1 from pg_database where datname = $1", name)
            if not exists:
                await connection.execute(f'create database "{name}"')
        finally:
            await connection.close()

    run_coroutine(create)
    return database_url_for(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop database `name` on the server of `url`, disconnecting whoever still uses it."""
    _check_name(name)

    async def drop() -> None:
        connection = await asyncpg.connect(database_url_for(url, "postgres"))
        try:
            await connection.execute(f'drop database if exists "{name}" with (force)')
        finally:
            await connection.close()

    run_coroutine(drop)


class LocalPostgres:
    """A PostgreSQL cluster of our own under `state_dir`, listening on 127.0.0.1:`port` only.

    Authentication is `trust`: it is a private development cluster bound to loopback. With
    `fast=True` (tests) it runs without fsync, so it loses data if the machine, not the server,
    crashes. `server_settings` are passed to the server as `-c name=value` (e.g. ssl=on and its
    certificate files, which must then lie under `state_dir` so that the server's user owns them).
    """

    def __init__(self, state_dir: Path, port: int = 55432, *, fast: bool = False,
                 server_settings: Mapping[str, str] | None = None) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.port = port
        self.fast = fast
        self.server_settings = dict(server_settings or {})
        self.data_dir = self.state_dir / "data"
        self.socket_dir = self.state_dir / "run"
        self.log_file = self.state_dir / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{DATABASE_NAME}"

    @property
    def server_url(self) -> str:
        """The always-present `postgres` database, for creating and dropping others."""
        return database_url_for(self.url, "postgres")

    @property
    def pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def start(self, timeout: float = 60.0) -> None:
        """Create the cluster on first use, start it, wait for a connection, create `dhr`."""
        self._prepare_directories()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            options = [
                f"-p {self.port}",
                f"-k {shlex.quote(str(self.socket_dir))}",
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=200",
            ]
            if self.fast:
                options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            options += [f"-c {shlex.quote(f'{name}={value}')}"
                        for name, value in self.server_settings.items()]
            completed = self._pg_ctl(
                "start",
                "-w",
                "-t",
                str(int(timeout)),
                "-l",
                str(self.log_file),
                "-o",
                " ".join(options),
                check=False,
            )
            if completed.returncode != 0:
                raise InfrastructureError(
                    f"PostgreSQL did not start on port {self.port}:\n{completed.stdout}"
                    f"{completed.stderr}\n--- {self.log_file} ---\n{tail(self.log_file)}"
                )
        self.wait_ready(timeout)
        create_database(self.server_url, DATABASE_NAME)

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Block until a real connection runs a query; return the seconds waited."""
        started = time.monotonic()
        while True:
            try:
                run_coroutine(lambda: _ping(self.server_url))
                return time.monotonic() - started
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                if time.monotonic() - started > timeout:
                    raise InfrastructureError(
                        f"PostgreSQL did not accept connections on port {self.port} within "
                        f"{timeout:.0f}s ({error})\n--- {self.log_file} ---\n{tail(self.log_file)}"
                    ) from error
            time.sleep(0.2)

    def stop(self, timeout: float = 60.0) -> None:
        """Fast shutdown: roll back open transactions, disconnect clients, checkpoint."""
        if self.is_running():
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(int(timeout)), check=True)

    def kill(self) -> None:
        """Immediate shutdown, as a crash would be: recovery from WAL at the next start."""
        if self.is_running():
            self._pg_ctl("stop", "-m", "immediate", "-w", check=True)

    def _prepare_directories(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self.state_dir.chmod(0o755)
        if os.geteuid() != 0:
            return
        # initdb and postgres refuse to run as root: they run as the postgres user, who must own
        # the state directory and be able to reach it.
        for ancestor in self.state_dir.parents:
            if not ancestor.stat().st_mode & 0o001:
                raise InfrastructureError(
                    f"the {SERVER_USER} user cannot reach {self.state_dir}: {ancestor} is not "
                    f"searchable by others (chmod o+x it or choose another state directory)"
                )
        account = pwd.getpwnam(SERVER_USER)
        for path in [self.state_dir, *self.state_dir.rglob("*")]:
            if path.lstat().st_uid != account.pw_uid:
                os.lchown(path, account.pw_uid, account.pw_gid)

    def _initdb(self) -> None:
        command = [
            str(find_bindir() / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SERVER_USER,
            "-A",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
        ]
        if self.fast:
            command.append("--no-sync")
        completed = self._run(command, check=False)
        if completed.returncode != 0:
            raise InfrastructureError(f"initdb failed:\n{completed.stdout}{completed.stderr}")

    def _pg_ctl(self, *arguments: str, check: bool) -> subprocess.CompletedProcess[str]:
        command = [str(find_bindir() / "pg_ctl"), "-D", str(self.data_dir), *arguments]
        return self._run(command, check=check)

    def _run(self, command: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        # Capturing is safe with pg_ctl start: -l sends the server's own output to the log file.
        completed = subprocess.run(
            command,
            cwd=self.state_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and completed.returncode != 0:
            raise InfrastructureError(
                f"{' '.join(command)} failed (exit {completed.returncode}):\n"
                f"{completed.stdout}{completed.stderr}"
            )
        return completed


async def _ping(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        await connection.fetchval("select 1")
    finally:
        await connection.close()


def _check_name(name: str) -> None:
    if not _SAFE_DATABASE_NAME.match(name):
        raise ValueError(f"not a plain lower-case database name: {name!r}")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))
