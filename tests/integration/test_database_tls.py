"""PostgreSQL over TLS as the DHR_DATABASE_SSL* settings ask: a server of our own with ssl=on and
a certificate from a CA made here; the platform connects with verify-full (and migrates, as a
deployment's migration Job does), and refuses a server its CA did not certify or whose
certificate names another host."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dhr_local.postgres import LocalPostgres
from dhr_local.process import free_port
from dhr_platform.app import apply_migrations
from dhr_platform.database import DatabaseAccessError, DatabaseConnection, create_pool
from dhr_platform.settings import PlatformSettings
from support.certificates import CertificateAuthority, write_pem


@dataclass(frozen=True)
class TlsPostgres:
    port: int
    ca_file: Path
    other_ca_file: Path

    def settings(self, host: str = "127.0.0.1", **overrides: object) -> PlatformSettings:
        return PlatformSettings(database_url=f"postgresql://postgres@{host}:{self.port}/dhr",
                                environment="test", **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[TlsPostgres]:
    # Not tmp_path: when we run as root the server runs as `postgres`, who must reach it.
    state = Path(tempfile.mkdtemp(prefix="dhr-test-tls-postgres-"))
    state.chmod(0o755)
    tls = state / "postgres" / "tls"
    tls.mkdir(parents=True)
    authority = CertificateAuthority.create("DHR test database CA")
    # The server's certificate names 127.0.0.1 only, so `localhost` is another host to verify-full.
    certificate, key = authority.issue("dhr-test-postgres", ip_addresses=("127.0.0.1",))
    write_pem(tls / "server.crt", certificate)
    write_pem(tls / "server.key", key, private=True)
    ca_file = write_pem(state / "ca.crt", authority.pem())
    other_ca_file = write_pem(state / "other-ca.crt",
                              CertificateAuthority.create("Someone else's CA").pem())
    postgres = LocalPostgres(state / "postgres", port=free_port(avoid=frozenset({55432})),
                             fast=True, server_settings={
                                 "ssl": "on", "ssl_cert_file": str(tls / "server.crt"),
                                 "ssl_key_file": str(tls / "server.key")})
    try:
        postgres.start()
        yield TlsPostgres(postgres.port, ca_file, other_ca_file)
    finally:
        postgres.stop()
        shutil.rmtree(state, ignore_errors=True)


async def connection_is_encrypted(settings: PlatformSettings) -> bool:
    pool = await create_pool(DatabaseConnection.from_settings(settings), "tls_check", max_size=1)
    try:
        return bool(await pool.fetchval(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
    finally:
        await pool.close()


async def test_the_platform_connects_with_verify_full_and_migrates(tls_postgres: TlsPostgres) -> None:
    settings = tls_postgres.settings(database_sslmode="verify-full",
                                     database_sslrootcert=tls_postgres.ca_file)

    assert await connection_is_encrypted(settings)
    assert "platform/0001" in " ".join(await apply_migrations("tls_service", [], settings))


async def test_a_server_certified_by_another_authority_is_refused(tls_postgres: TlsPostgres) -> None:
    settings = tls_postgres.settings(database_sslmode="verify-full",
                                     database_sslrootcert=tls_postgres.other_ca_file)

    with pytest.raises(DatabaseAccessError, match="the server's certificate was refused") as refused:
        await connection_is_encrypted(settings)
    assert "DHR_DATABASE_SSLROOTCERT" in str(refused.value)


async def test_verify_full_refuses_a_certificate_for_another_host_that_verify_ca_accepts(
        tls_postgres: TlsPostgres) -> None:
    chain_only = tls_postgres.settings("localhost", database_sslmode="verify-ca",
                                       database_sslrootcert=tls_postgres.ca_file)
    full = tls_postgres.settings("localhost", database_sslmode="verify-full",
                                 database_sslrootcert=tls_postgres.ca_file)

    assert await connection_is_encrypted(chain_only)
    with pytest.raises(DatabaseAccessError, match="names localhost"):
        await connection_is_encrypted(full)


async def test_require_encrypts_without_a_root_certificate(tls_postgres: TlsPostgres) -> None:
    assert await connection_is_encrypted(tls_postgres.settings(database_sslmode="require"))
