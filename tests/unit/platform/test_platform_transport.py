"""Kafka and PostgreSQL transport settings without servers: what each client is given, secrets
that never show, settings that contradict themselves, and placeholder secrets refused outside
development."""

from __future__ import annotations

import asyncio
import pickle
import ssl
from pathlib import Path

import pytest
from faststream.security import BaseSecurity, SASLScram512
from pydantic import SecretStr, ValidationError

from dhr_commissioning.__main__ import main as commissioning_main
from dhr_oversight.config import OversightSettings
from dhr_oversight.keys import DEVELOPMENT_KEY_HEADER, SigningKeyError, generate_seed, load_signing_keys
from dhr_platform.consumers import broker_security
from dhr_platform.database import DatabaseAccessError, DatabaseConnection
from dhr_platform.kafka import KafkaConnection, explain_access_failure
from dhr_platform.settings import PlaceholderSecretError, PlatformSettings, redact_url
from support.certificates import CertificateAuthority, write_pem

# A production configuration, its own key-encryption key included (sealing.py).
PRODUCTION = {"environment": "production", "kafka_bootstrap": "kafka.internal:9093",
              "personal_data_kek": "Gm2q0Xo9o5Qm1w7i0P3i8m4m0kq9yqg2o2Jd3lq0sZk="}
REAL_PASSWORD = "Vx9-real-database-password"
SASL_PASSWORD = "Qm4-real-kafka-password"


@pytest.fixture(autouse=True)
def no_dhr_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DHR_ENVIRONMENT", "DHR_DATABASE_URL", "DHR_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)


def settings(**values: object) -> PlatformSettings:
    return PlatformSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("tls")
    authority = CertificateAuthority.create("test CA")
    certificate, key = authority.issue("dhr-commissioning", dns_names=("dhr-commissioning",))
    return {"ca": write_pem(directory / "ca.crt", authority.pem()),
            "cert": write_pem(directory / "user.crt", certificate),
            "key": write_pem(directory / "user.key", key, private=True)}


# --- secrets never show ------------------------------------------------------------------------

def test_the_settings_repr_and_str_mask_every_password() -> None:
    configured = settings(
        database_url=f"postgresql://dhr_panel:{REAL_PASSWORD}@db:5432/dhr?sslpassword=key-pass",
        kafka_security_protocol="SASL_SSL", kafka_sasl_username="dhr-panel",
        kafka_sasl_password=SASL_PASSWORD)

    for text in (repr(configured), str(configured)):
        assert "postgresql://dhr_panel:***@db:5432/dhr?sslpassword=***" in text
        assert REAL_PASSWORD not in text and SASL_PASSWORD not in text and "key-pass" not in text


def test_a_refused_setting_is_not_echoed_in_the_error() -> None:
    with pytest.raises(ValidationError) as refused:
        settings(database_url=f"mysql://dhr:{REAL_PASSWORD}@db/dhr")

    assert "must be a postgresql:// URL" in str(refused.value)
    assert REAL_PASSWORD not in str(refused.value)


def test_the_connections_describe_themselves_without_their_passwords() -> None:
    kafka = KafkaConnection.from_settings(settings(
        kafka_bootstrap="kafka:9093", kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="dhr-panel", kafka_sasl_password=SASL_PASSWORD))
    database = DatabaseConnection(f"postgresql://dhr:{REAL_PASSWORD}@db/dhr",
                                  SecretStr(REAL_PASSWORD), "verify-full")

    assert kafka.describe() == "kafka:9093 (SASL_SSL, SCRAM-SHA-512 as dhr-panel)"
    assert database.describe() == "postgresql://dhr:***@db/dhr (TLS verify-full)"
    for text in (kafka.describe(), repr(kafka), database.describe(), repr(database)):
        assert SASL_PASSWORD not in text and REAL_PASSWORD not in text


@pytest.mark.parametrize(("url", "redacted"), [
    ("postgresql://u:p%40ss@h:5432/d", "postgresql://u:***@h:5432/d"),
    ("postgresql://u@h/d", "postgresql://u@h/d"),
    ("postgresql://h/d?user=u&password=p", "postgresql://h/d?user=u&password=***"),
])
def test_a_database_url_is_redacted(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


# --- Kafka: every client gets the same options ---------------------------------------------------

def test_a_bare_bootstrap_is_a_plaintext_connection() -> None:
    kafka = KafkaConnection.of("127.0.0.1:9092")

    assert kafka.client_options() == {"bootstrap_servers": "127.0.0.1:9092",
                                      "security_protocol": "PLAINTEXT"}
    assert kafka.librdkafka_options() == {"bootstrap.servers": "127.0.0.1:9092",
                                          "security.protocol": "PLAINTEXT"}
    assert broker_security(kafka) is None


def test_sasl_ssl_with_scram_reaches_aiokafka_librdkafka_and_faststream(
        tls_files: dict[str, Path]) -> None:
    kafka = KafkaConnection.from_settings(settings(
        kafka_bootstrap="dhr-kafka-bootstrap:9093", kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="dhr-panel",
        kafka_sasl_password=SASL_PASSWORD, kafka_ssl_cafile=tls_files["ca"]))

    options = kafka.client_options()
    context = options.pop("ssl_context")
    assert options == {"bootstrap_servers": "dhr-kafka-bootstrap:9093",
                       "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "dhr-panel", "sasl_plain_password": SASL_PASSWORD}
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert kafka.librdkafka_options() == {
        "bootstrap.servers": "dhr-kafka-bootstrap:9093", "security.protocol": "SASL_SSL",
        "ssl.endpoint.identification.algorithm": "https", "ssl.ca.location": str(tls_files["ca"]),
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "dhr-panel",
        "sasl.password": SASL_PASSWORD}
    security = broker_security(kafka)
    assert isinstance(security, SASLScram512) and security.use_ssl
    assert (security.username, security.password) == ("dhr-panel", SASL_PASSWORD)


def test_mutual_tls_presents_the_client_certificate(tls_files: dict[str, Path]) -> None:
    kafka = KafkaConnection.from_settings(settings(
        kafka_security_protocol="SSL", kafka_ssl_cafile=tls_files["ca"],
        kafka_ssl_certfile=tls_files["cert"], kafka_ssl_keyfile=tls_files["key"]))

    assert kafka.client_options()["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert kafka.librdkafka_options()["ssl.certificate.location"] == str(tls_files["cert"])
    assert kafka.librdkafka_options()["ssl.key.location"] == str(tls_files["key"])
    security = broker_security(kafka)
    assert type(security) is BaseSecurity and security.use_ssl
    assert kafka.describe().endswith("(SSL, client certificate)")


def test_the_sasl_password_is_read_from_its_file_without_the_line_break(tmp_path: Path) -> None:
    (tmp_path / "password").write_text(SASL_PASSWORD + "\n")
    kafka = KafkaConnection.from_settings(settings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="dhr-panel",
        kafka_sasl_password_file=tmp_path / "password"))

    assert kafka.plain_password() == SASL_PASSWORD
    assert pickle.loads(pickle.dumps(kafka)) == kafka  # handed to the rebuild's workers


def test_a_missing_password_file_is_named() -> None:
    configured = settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u",
                          kafka_sasl_password_file=Path("/nonexistent/password"))

    with pytest.raises(ValueError, match="DHR_KAFKA_SASL_PASSWORD_FILE /nonexistent/password"):
        KafkaConnection.from_settings(configured)


async def test_a_broker_certificate_of_another_authority_is_named_as_the_reason(
        tmp_path: Path) -> None:
    broker_authority, other_authority = (CertificateAuthority.create("brokers' CA"),
                                         CertificateAuthority.create("another CA"))
    certificate, key = broker_authority.issue("broker", ip_addresses=("127.0.0.1",))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(write_pem(tmp_path / "broker.crt", certificate),
                                   write_pem(tmp_path / "broker.key", key, private=True))
    broker = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0,
                                        ssl=server_context)
    port = broker.sockets[0].getsockname()[1]
    connection = KafkaConnection(f"127.0.0.1:{port}", "SSL",
                                 cafile=write_pem(tmp_path / "ca.crt", other_authority.pem()))
    try:
        reason = await explain_access_failure(connection, RuntimeError("Unable to bootstrap"))
    finally:
        broker.close()

    assert reason.startswith(f"Kafka 127.0.0.1:{port} (SSL): the broker's certificate was refused")
    assert "DHR_KAFKA_SSL_CAFILE" in reason


# --- PostgreSQL: TLS as libpq's sslmode reads ----------------------------------------------------

def test_verify_full_checks_the_chain_and_the_host_name(tls_files: dict[str, Path]) -> None:
    full = DatabaseConnection.from_settings(settings(
        database_sslmode="verify-full", database_sslrootcert=tls_files["ca"]))
    chain = DatabaseConnection.from_settings(settings(
        database_sslmode="verify-ca", database_sslrootcert=tls_files["ca"]))

    full_context, chain_context = full.ssl_context(), chain.ssl_context()
    assert isinstance(full_context, ssl.SSLContext) and isinstance(chain_context, ssl.SSLContext)
    assert full_context.verify_mode == ssl.CERT_REQUIRED and full_context.check_hostname
    assert chain_context.verify_mode == ssl.CERT_REQUIRED and not chain_context.check_hostname


def test_require_encrypts_and_verifies_only_with_a_root_certificate(
        tls_files: dict[str, Path]) -> None:
    bare = DatabaseConnection.from_settings(settings(database_sslmode="require")).ssl_context()
    rooted = DatabaseConnection.from_settings(settings(
        database_sslmode="require", database_sslrootcert=tls_files["ca"])).ssl_context()

    assert isinstance(bare, ssl.SSLContext) and bare.verify_mode == ssl.CERT_NONE
    assert isinstance(rooted, ssl.SSLContext) and rooted.verify_mode == ssl.CERT_REQUIRED


def test_without_a_mode_the_url_decides_and_disable_is_plaintext() -> None:
    assert DatabaseConnection.from_settings(settings()).connect_options() == {
        "dsn": settings().database_url}
    assert DatabaseConnection.from_settings(
        settings(database_sslmode="disable")).connect_options()["ssl"] is False


def test_a_client_certificate_and_a_separate_password_reach_asyncpg(
        tls_files: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "password").write_text(REAL_PASSWORD)
    options = DatabaseConnection.from_settings(settings(
        database_url="postgresql://dhr_panel@db/dhr", database_password_file=tmp_path / "password",
        database_sslmode="verify-full", database_sslrootcert=tls_files["ca"],
        database_sslcert=tls_files["cert"], database_sslkey=tls_files["key"])).connect_options()

    assert options["dsn"] == "postgresql://dhr_panel@db/dhr"
    assert options["password"] == REAL_PASSWORD
    assert isinstance(options["ssl"], ssl.SSLContext)


def test_a_missing_root_certificate_is_named() -> None:
    connection = DatabaseConnection.from_settings(settings(
        database_sslmode="verify-full", database_sslrootcert=Path("/nonexistent/ca.crt")))

    with pytest.raises(DatabaseAccessError, match="DHR_DATABASE_SSLROOTCERT"):
        connection.ssl_context()


# --- settings that would not do what they say ---------------------------------------------------

@pytest.mark.parametrize(("values", "complaint"), [
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_password": "x"},
     "needs DHR_KAFKA_SASL_USERNAME"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"},
     "needs one of DHR_KAFKA_SASL_PASSWORD and DHR_KAFKA_SASL_PASSWORD_FILE"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u",
      "kafka_sasl_password": "x", "kafka_sasl_password_file": "/p"},
     "needs one of DHR_KAFKA_SASL_PASSWORD and DHR_KAFKA_SASL_PASSWORD_FILE"),
    ({"kafka_sasl_username": "u", "kafka_sasl_password": "x"}, "does not use SASL"),
    ({"kafka_ssl_cafile": "/ca.crt"}, "does not use TLS"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "/k"}, "needs DHR_KAFKA_SSL_CERTFILE"),
    ({"database_sslrootcert": "/ca.crt"}, "need DHR_DATABASE_SSLMODE"),
    ({"database_url": "postgresql://u@h/d?sslmode=require", "database_sslmode": "verify-full"},
     "either in the URL or as DHR_DATABASE_SSL"),
    ({"database_url": "postgresql://u:p@h/d", "database_password": "q"},
     "given twice (the URL and DHR_DATABASE_PASSWORD)"),
    ({"database_sslmode": "prefer"}, "database_sslmode"),
    ({"kafka_security_protocol": "SASL_SCRAM"}, "kafka_security_protocol"),
])
def test_contradictory_transport_settings_are_refused(values: dict[str, object],
                                                      complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        settings(**values)


# --- placeholders refused outside development ----------------------------------------------------

@pytest.mark.parametrize("url", [
    "postgresql://dhr:dhr@postgres:5432/dhr",  # docker-compose.yml's
    "postgresql://postgres:postgres@db/dhr",
    "postgresql://dhr_panel:changeme@db/dhr",
    "postgresql://dhr_panel:@db/dhr",
    "postgresql://dhr_panel:dhr_panel@db/dhr",
    "postgresql://db/dhr?user=dhr_panel&password=CHANGEME",
])
def test_a_placeholder_database_password_is_refused_outside_development(url: str) -> None:
    with pytest.raises(PlaceholderSecretError, match="DHR_DATABASE_URL: an empty or placeholder"):
        settings(database_url=url, **PRODUCTION).refuse_development_defaults()
    with pytest.raises(PlaceholderSecretError):
        settings(database_url=url, **PRODUCTION).refuse_development_database()
    settings(database_url=url).refuse_development_defaults()  # development: fine


def test_a_real_password_or_none_in_the_url_is_accepted_in_production() -> None:
    settings(database_url=f"postgresql://dhr_panel:{REAL_PASSWORD}@db/dhr",
             **PRODUCTION).refuse_development_defaults()
    settings(database_url="postgresql://dhr_panel@db/dhr", database_password=REAL_PASSWORD,
             **PRODUCTION).refuse_development_defaults()


def test_placeholder_kafka_and_file_passwords_are_refused_outside_development(
        tmp_path: Path) -> None:
    production = {**PRODUCTION, "database_url": "postgresql://dhr_panel@db/dhr"}
    kafka = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "dhr-panel"}
    (tmp_path / "placeholder").write_text("changeme\n")
    (tmp_path / "empty").write_text("")

    with pytest.raises(PlaceholderSecretError, match="DHR_KAFKA_SASL_PASSWORD"):
        settings(**production, **kafka, kafka_sasl_password="secret").refuse_development_defaults()
    for name in ("placeholder", "empty"):
        with pytest.raises(PlaceholderSecretError, match="DHR_KAFKA_SASL_PASSWORD_FILE"):
            KafkaConnection.from_settings(settings(
                **production, **kafka, kafka_sasl_password_file=tmp_path / name))
        with pytest.raises(PlaceholderSecretError, match="DHR_DATABASE_PASSWORD_FILE"):
            DatabaseConnection.from_settings(settings(
                **production, database_password_file=tmp_path / name))
    with pytest.raises(PlaceholderSecretError, match="DHR_DATABASE_PASSWORD"):
        settings(**production, database_password="password").refuse_development_defaults()


def test_sasl_plain_without_tls_is_refused_outside_development() -> None:
    plain = {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
             "kafka_sasl_username": "u", "kafka_sasl_password": SASL_PASSWORD,
             "database_url": "postgresql://u@db/dhr"}

    with pytest.raises(ValueError, match="sends the Kafka password in clear"):
        settings(**plain, **PRODUCTION).refuse_development_defaults()
    settings(**plain).refuse_development_defaults()


def test_the_development_issuers_jwks_file_is_refused_outside_development(tmp_path: Path) -> None:
    (tmp_path / "jwks.json").write_text('{"keys": []}')
    (tmp_path / "signing-key.pem").write_text("the development issuer's private key")
    configured = {"database_url": "postgresql://u@db/dhr", "auth_issuer": "https://idp.example",
                  "auth_jwks_file": tmp_path / "jwks.json"}

    with pytest.raises(ValueError, match="is the development issuer's"):
        settings(**configured, **PRODUCTION).refuse_development_defaults()
    settings(**configured).refuse_development_defaults()


def test_the_development_signing_key_of_the_ledger_is_refused_outside_development(
        tmp_path: Path) -> None:
    key_file = tmp_path / "signing-keys"
    key_file.write_text(f"{DEVELOPMENT_KEY_HEADER}\n{generate_seed()}\n")

    with pytest.raises(SigningKeyError, match="is a development key"):
        load_signing_keys(OversightSettings(environment="production",
                                            oversight_signing_key_file=key_file))
    assert load_signing_keys(OversightSettings(oversight_signing_key_file=key_file)).private_keys


def test_a_migration_with_a_placeholder_password_stops_before_connecting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DHR_ENVIRONMENT", "production")
    monkeypatch.setenv("DHR_DATABASE_URL", "postgresql://dhr:dhr@127.0.0.1:1/dhr")

    with pytest.raises(SystemExit) as stopped:
        commissioning_main(["migrate"])

    assert str(stopped.value).startswith("dhr-commissioning migrate: DHR_DATABASE_URL: an empty")
