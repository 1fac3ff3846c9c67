"""Typed configuration from `DHR_*` environment variables, read once at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dhr_platform.sealing import DEVELOPMENT_KEK, KeyEncryptionKeys, decode_key

DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:55432/dhr"
DEV_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
# The local development issuer's names (dhr_platform.dev_issuer); refused outside development.
DEV_AUTH_ISSUER = "urn:dhr:development-issuer"
DEV_AUTH_AUDIENCE = "dhr"
# Asymmetric signature algorithms only: `none` and HMAC (HS*) can never be configured.
ACCEPTABLE_ALGORITHMS = frozenset({"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512",
                                   "PS256", "PS384", "PS512"})
# Passwords that only ever stand in for a real one (our compose file's and examples' among them);
# refused outside development, as is a password equal to its user name.
PLACEHOLDER_PASSWORDS = frozenset({"", "changeme", "change-me", "change_me", "changeit", "password",
                                   "secret", "postgres", "dhr", "admin", "kafka"})
# The development issuer keeps its private key next to its JWKS file (dhr_platform.dev_issuer).
DEV_ISSUER_KEY_FILE = "signing-key.pem"
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
DatabaseSslMode = Literal["disable", "require", "verify-ca", "verify-full"]
# TLS options a PostgreSQL URL may carry in its query (libpq's names, as asyncpg reads them).
_URL_TLS_OPTIONS = frozenset({"sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "ssl"})
_URL_SECRET_OPTIONS = frozenset({"password", "sslpassword"})


class PlaceholderSecretError(ValueError):
    """A placeholder or development secret, refused outside development."""


def redact_url(url: str) -> str:
    """The URL with its password (in the authority or the query) replaced by `***`."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.partition(':')[0]}:***@{host}"
        query = urlencode([(key, "***" if key in _URL_SECRET_OPTIONS else value)
                           for key, value in parse_qsl(parts.query, keep_blank_values=True)],
                          safe="*/")
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:
        return "<unparsable URL>"


def read_secret_file(path: Path, variable: str) -> SecretStr:
    """A secret kept in a file (a mounted Kubernetes Secret), without its final line break."""
    try:
        return SecretStr(path.read_text().rstrip("\r\n"))
    except OSError as error:
        raise ValueError(f"{variable} {path}: {error.strerror or error}") from error


class ObservabilitySettings(BaseSettings):
    """Logs, traces, metrics and shutdown; the OpenTelemetry variables are read too."""

    model_config = SettingsConfigDict(env_prefix="DHR_", extra="ignore", frozen=True,
                                      populate_by_name=True)

    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one object per line with trace ids; text: for people.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DHR_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="Base URL of an OTLP/HTTP collector (http://collector:4318); traces and "
        "metrics are exported there. Unset: spans are not recorded, metrics only on /metrics.")
    otel_service_name: str | None = Field(
        default=None, validation_alias=AliasChoices("DHR_OTEL_SERVICE_NAME", "OTEL_SERVICE_NAME"),
        description="service.name of the telemetry; default dhr-<service>.")
    otel_metrics_export_seconds: float = Field(default=60.0, gt=0,
                                               description="Interval of the OTLP metrics export.")
    metrics_sample_seconds: float = Field(
        default=15.0, gt=0, description="How often the outbox backlog and consumer lag are "
        "sampled (and before every /metrics scrape).")
    shutdown_drain_seconds: float = Field(
        default=10.0, gt=0, description="On stop, how long the relay may take to publish what "
        "is committed before giving up (what is left is published at the next start).")

    @field_validator("otel_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (OTLP over HTTP)")
        return value


class PlatformSettings(ObservabilitySettings):
    """Settings every service shares; a service subclasses it to add its own.

    Secrets never show: passwords are `SecretStr`, the database URL's password is masked in the
    settings' repr, and a value refused at start is not echoed in the error (it may be a
    secret)."""

    model_config = SettingsConfigDict(env_prefix="DHR_", extra="ignore", frozen=True,
                                      hide_input_in_errors=True)

    environment: str = Field(default="development", description="development, test or production.")
    database_url: str = Field(default=DEV_DATABASE_URL, description="PostgreSQL URL (asyncpg).")
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_acquire_timeout_seconds: float = Field(
        default=5.0, gt=0,
        description="Longest wait for a free pooled connection; an HTTP request then gets 503.")
    # PostgreSQL credentials and TLS (docs/security.md, "Kafka and PostgreSQL connections").
    database_password: SecretStr | None = Field(
        default=None, description="The database password, when the URL carries none.")
    database_password_file: Path | None = Field(
        default=None, description="A file holding the database password (a mounted Secret).")
    database_sslmode: DatabaseSslMode | None = Field(
        default=None, description="disable, require, verify-ca or verify-full; unset: as the URL "
        "says (asyncpg's default is to try TLS without verifying).")
    database_sslrootcert: Path | None = Field(
        default=None, description="CA certificate(s) the server's certificate must chain to; "
        "unset with verify-ca or verify-full: the system's trusted CAs.")
    database_sslcert: Path | None = Field(
        default=None, description="Client certificate, when the server authenticates by one.")
    database_sslkey: Path | None = Field(default=None, description="The client certificate's key.")
    kafka_bootstrap: str = Field(default=DEV_KAFKA_BOOTSTRAP, description="host:port[,host:port]")
    # Kafka transport: TLS (with a client certificate for mTLS) and SASL, as the listener wants.
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        default="SCRAM-SHA-512", description="SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (SASL_*).")
    kafka_sasl_username: str | None = Field(default=None, description="The SASL user (SASL_*).")
    kafka_sasl_password: SecretStr | None = Field(default=None,
                                                  description="The SASL password (SASL_*).")
    kafka_sasl_password_file: Path | None = Field(
        default=None, description="A file holding the SASL password (Strimzi's KafkaUser "
        "Secret, key `password`, mounted).")
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA certificate(s) of the brokers (SSL, SASL_SSL); unset: "
        "the system's trusted CAs.")
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="Client certificate for mutual TLS (SSL, SASL_SSL).")
    kafka_ssl_keyfile: Path | None = Field(
        default=None, description="The client certificate's key, unless in the certificate file.")
    topic_partitions: int = Field(default=3, ge=1, description="Partitions of topics we create.")
    topic_replication_factor: int = Field(default=1, ge=1)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="Larger bodies get 413.")
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_idle_poll_seconds: float = Field(default=0.05, gt=0)
    relay_max_backoff_seconds: float = Field(default=5.0, gt=0)
    consumer_max_attempts: int = Field(default=5, ge=1, description="Tries before dead-lettering.")
    consumer_initial_backoff_seconds: float = Field(default=0.2, ge=0)
    consumer_max_backoff_seconds: float = Field(default=5.0, ge=0)
    consumer_batch_size: int = Field(default=100, ge=1, le=10_000,
                                     description="Records taken from Kafka at most at once.")
    consumer_batch_wait_ms: int = Field(
        default=20, ge=1, le=5_000,
        description="How long an idle consumer waits for records before polling again.")
    consumer_concurrency: int = Field(
        default=8, ge=1, le=200,
        description="Records of different keys applied at once (one key's stay in order).")

    # Bearer tokens (ADR 0008, docs/security.md): one of the two JWKS sources, issuer, audience.
    auth_jwks_url: str | None = Field(
        default=None, description="URL of the token issuer's JWKS (cached, fetched again on an "
        "unknown key id).")
    auth_jwks_file: Path | None = Field(
        default=None, description="A JWKS file instead of a URL (the development issuer's).")
    auth_issuer: str | None = Field(default=None, description="The `iss` tokens must carry.")
    auth_audience: str | None = Field(default=None, description="The `aud` tokens must carry.")
    auth_algorithms: tuple[str, ...] = Field(
        default=("EdDSA", "ES256", "RS256"),
        description='Accepted signature algorithms, as a JSON list (e.g. ["ES256"]).')
    auth_leeway_seconds: float = Field(default=30.0, ge=0, le=300,
                                       description="Clock skew allowed on exp, nbf and iat.")
    auth_role_claim: str = Field(default="roles", min_length=1,
                                 description="Claim holding the role (a string or a list).")
    auth_organisation_claim: str = Field(default="org", min_length=1,
                                         description="Claim holding the organisation.")
    auth_jwks_cache_seconds: float = Field(default=300.0, gt=0)
    auth_jwks_min_refresh_seconds: float = Field(
        default=10.0, ge=0, description="Least time between two fetches for unknown key ids.")

    auth_personal_data_claim: str = Field(
        default="personal_data", min_length=1,
        description="Claim that grants an oversight reader plaintext personal data (true).")

    # Personal data (docs/security.md): the key-encryption key that wraps each review's data key.
    personal_data_kek: SecretStr | None = Field(
        default=None, description="Key-encryption key: base64 of 32 random bytes (`dhr keygen "
        "--kek`). Development and tests use a fixed key when none is given.")
    personal_data_kek_file: Path | None = Field(
        default=None, description="A file holding the key-encryption key instead (a mounted "
        "secret).")
    personal_data_previous_keks: tuple[SecretStr, ...] = Field(
        default=(), description="Earlier key-encryption keys, as a JSON list: they still unwrap "
        "the data keys they wrapped (key rotation).")

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        refused = sorted(set(value) - ACCEPTABLE_ALGORITHMS)
        if refused or not value:
            raise ValueError(f"{refused or 'nothing'} refused: accepted algorithms must be among "
                             f"{sorted(ACCEPTABLE_ALGORITHMS)} (never none or HMAC)")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _transport_consistent(self) -> PlatformSettings:
        """Refuse settings that would silently not do what they say (a CA file on a plaintext
        connection, a password in two places)."""
        problems: list[str] = []
        sasl = self.kafka_security_protocol.startswith("SASL_")
        tls = self.kafka_security_protocol in {"SSL", "SASL_SSL"}
        if sasl and not self.kafka_sasl_username:
            problems.append(f"DHR_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                            "DHR_KAFKA_SASL_USERNAME")
        if sasl and (self.kafka_sasl_password is None) == (self.kafka_sasl_password_file is None):
            problems.append(f"DHR_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                            "one of DHR_KAFKA_SASL_PASSWORD and DHR_KAFKA_SASL_PASSWORD_FILE")
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password is not None
                         or self.kafka_sasl_password_file is not None):
            problems.append("DHR_KAFKA_SASL_* are set but DHR_KAFKA_SECURITY_PROTOCOL="
                            f"{self.kafka_security_protocol} does not use SASL")
        if not tls and (self.kafka_ssl_cafile or self.kafka_ssl_certfile or self.kafka_ssl_keyfile):
            problems.append("DHR_KAFKA_SSL_* are set but DHR_KAFKA_SECURITY_PROTOCOL="
                            f"{self.kafka_security_protocol} does not use TLS")
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            problems.append("DHR_KAFKA_SSL_KEYFILE needs DHR_KAFKA_SSL_CERTFILE")
        url = urlsplit(self.database_url)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        url_password = url.password is not None or "password" in query
        given = [name for name, value in (("the URL", url_password),
                                          ("DHR_DATABASE_PASSWORD", self.database_password),
                                          ("DHR_DATABASE_PASSWORD_FILE",
                                           self.database_password_file)) if value]
        if len(given) > 1:
            problems.append(f"the database password is given twice ({' and '.join(given)})")
        url_tls = sorted(_URL_TLS_OPTIONS & set(query))
        database_tls = (self.database_sslrootcert, self.database_sslcert, self.database_sslkey)
        if self.database_sslmode is not None and url_tls:
            problems.append(f"DHR_DATABASE_URL sets {', '.join(url_tls)}: give the database TLS "
                            "options either in the URL or as DHR_DATABASE_SSL*, not both")
        elif self.database_sslmode in {None, "disable"} and any(database_tls):
            problems.append("DHR_DATABASE_SSLROOTCERT, DHR_DATABASE_SSLCERT and "
                            "DHR_DATABASE_SSLKEY need DHR_DATABASE_SSLMODE (require, verify-ca or "
                            "verify-full)")
        if self.database_sslkey and not self.database_sslcert:
            problems.append("DHR_DATABASE_SSLKEY needs DHR_DATABASE_SSLCERT")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def __repr_args__(self) -> Any:
        # The URL's password is masked like the SecretStr fields (which mask themselves).
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "database_url" else value

    @property
    def is_development(self) -> bool:
        return self.environment in {"development", "test"}

    def refuse_development_defaults(self) -> None:
        """Outside development, refuse to run on the laptop defaults or on placeholder secrets."""
        if self.is_development:
            return
        if self.database_url == DEV_DATABASE_URL or self.kafka_bootstrap == DEV_KAFKA_BOOTSTRAP:
            raise ValueError(
                "DHR_DATABASE_URL and DHR_KAFKA_BOOTSTRAP must be set outside development"
            )
        self.refuse_development_database()
        if self.auth_issuer == DEV_AUTH_ISSUER:
            raise ValueError("the development token issuer is refused outside development")
        if self.auth_jwks_url is not None and not self.auth_jwks_url.startswith("https://"):
            raise ValueError("DHR_AUTH_JWKS_URL must be an https:// URL outside development")
        if (self.auth_jwks_file is not None
                and (self.auth_jwks_file.parent / DEV_ISSUER_KEY_FILE).exists()):
            raise ValueError(f"DHR_AUTH_JWKS_FILE {self.auth_jwks_file} is the development "
                             "issuer's (its signing key lies beside it): refused outside "
                             "development")
        if self.kafka_security_protocol == "SASL_PLAINTEXT" and self.kafka_sasl_mechanism == "PLAIN":
            raise ValueError("SASL PLAIN over SASL_PLAINTEXT sends the Kafka password in clear: "
                             "use SASL_SSL or SCRAM outside development")
        if self.kafka_sasl_password is not None:
            self._refuse_placeholder(self.kafka_sasl_password, self.kafka_sasl_username,
                                     "DHR_KAFKA_SASL_PASSWORD")
        if self.personal_data_kek is None and self.personal_data_kek_file is None:
            raise ValueError("DHR_PERSONAL_DATA_KEK or DHR_PERSONAL_DATA_KEK_FILE must be set "
                             "outside development")
        if self.key_encryption_key() == decode_key(DEVELOPMENT_KEK, "the development key"):
            raise ValueError("the development key-encryption key is refused outside development")

    def key_encryption_key(self) -> bytes:
        """The configured key-encryption key (the development one when none is configured)."""
        if self.personal_data_kek is not None and self.personal_data_kek_file is not None:
            raise ValueError("set DHR_PERSONAL_DATA_KEK or DHR_PERSONAL_DATA_KEK_FILE, not both")
        if self.personal_data_kek_file is not None:
            return decode_key(self.personal_data_kek_file.read_bytes(),
                              "DHR_PERSONAL_DATA_KEK_FILE")
        if self.personal_data_kek is not None:
            return decode_key(self.personal_data_kek.get_secret_value(), "DHR_PERSONAL_DATA_KEK")
        return decode_key(DEVELOPMENT_KEK, "the development key")

    def key_encryption_keys(self) -> KeyEncryptionKeys:
        """The key that wraps new data keys and the earlier ones that still unwrap old ones."""
        previous = [decode_key(key.get_secret_value(), "DHR_PERSONAL_DATA_PREVIOUS_KEKS")
                    for key in self.personal_data_previous_keks]
        return KeyEncryptionKeys(self.key_encryption_key(), previous)

    def refuse_development_database(self) -> None:
        """Outside development, refuse a placeholder database password (what the commands that
        need only the database, such as `migrate`, check)."""
        if self.is_development:
            return
        url = urlsplit(self.database_url)
        url_password = url.password
        if url_password is None:
            url_password = dict(parse_qsl(url.query, keep_blank_values=True)).get("password")
        if url_password is not None:
            self._refuse_placeholder(SecretStr(url_password), url.username, "DHR_DATABASE_URL")
        if self.database_password is not None:
            self._refuse_placeholder(self.database_password, url.username,
                                     "DHR_DATABASE_PASSWORD")

    def _refuse_placeholder(self, secret: SecretStr, user: str | None, variable: str) -> None:
        if self.is_development:
            return
        value = secret.get_secret_value()
        if value.strip().casefold() in PLACEHOLDER_PASSWORDS or (user and value == user):
            raise PlaceholderSecretError(
                f"{variable}: an empty or placeholder password (or one equal to the user name) "
                "is refused outside development (DHR_ENVIRONMENT); give the real one")

    def kafka_password(self) -> SecretStr | None:
        """The SASL password, read from its file if it is kept in one (placeholders refused
        outside development, wherever they come from)."""
        if self.kafka_sasl_password_file is None:
            return self.kafka_sasl_password
        password = read_secret_file(self.kafka_sasl_password_file, "DHR_KAFKA_SASL_PASSWORD_FILE")
        self._refuse_placeholder(password, self.kafka_sasl_username, "DHR_KAFKA_SASL_PASSWORD_FILE")
        return password

    def database_password_secret(self) -> SecretStr | None:
        """The database password given apart from the URL (itself or its file), if any."""
        if self.database_password_file is None:
            return self.database_password
        password = read_secret_file(self.database_password_file, "DHR_DATABASE_PASSWORD_FILE")
        self._refuse_placeholder(password, urlsplit(self.database_url).username,
                                 "DHR_DATABASE_PASSWORD_FILE")
        return password

    @property
    def auth_configured(self) -> bool:
        """Whether tokens can be verified: issuer, audience and exactly one JWKS source."""
        return bool(self.auth_issuer and self.auth_audience) and (
            (self.auth_jwks_url is None) != (self.auth_jwks_file is None))

    def require_auth_configuration(self) -> None:
        """Refuse to serve HTTP without a complete token configuration (there is no anonymous
        mode, in development either: `make run` wires the development issuer)."""
        missing = [name for name, value in (("DHR_AUTH_ISSUER", self.auth_issuer),
                                            ("DHR_AUTH_AUDIENCE", self.auth_audience))
                   if not value]
        if (self.auth_jwks_url is None) == (self.auth_jwks_file is None):
            missing.append("exactly one of DHR_AUTH_JWKS_URL and DHR_AUTH_JWKS_FILE")
        if missing:
            raise ValueError(f"bearer-token verification is not configured: set {', '.join(missing)}"
                             " (see docs/security.md)")
