"""Typed configuration from `DHR_*` environment variables, read once at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
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
    """Settings every service shares; a service subclasses it to add its own."""

    model_config = SettingsConfigDict(env_prefix="DHR_", extra="ignore", frozen=True)

    environment: str = Field(default="development", description="development, test or production.")
    database_url: str = Field(default=DEV_DATABASE_URL, description="PostgreSQL URL (asyncpg).")
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_acquire_timeout_seconds: float = Field(
        default=5.0, gt=0,
        description="Longest wait for a free pooled connection; an HTTP request then gets 503.")
    kafka_bootstrap: str = Field(default=DEV_KAFKA_BOOTSTRAP, description="host:port[,host:port]")
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

    @property
    def is_development(self) -> bool:
        return self.environment in {"development", "test"}

    def refuse_development_defaults(self) -> None:
        """Outside development, refuse to run on the laptop defaults."""
        if self.is_development:
            return
        if self.database_url == DEV_DATABASE_URL or self.kafka_bootstrap == DEV_KAFKA_BOOTSTRAP:
            raise ValueError(
                "DHR_DATABASE_URL and DHR_KAFKA_BOOTSTRAP must be set outside development"
            )
        if self.auth_issuer == DEV_AUTH_ISSUER:
            raise ValueError("the development token issuer is refused outside development")
        if self.auth_jwks_url is not None and not self.auth_jwks_url.startswith("https://"):
            raise ValueError("DHR_AUTH_JWKS_URL must be an https:// URL outside development")
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
