"""Typed configuration from `DHR_*` environment variables, read once at start."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:55432/dhr"
DEV_KAFKA_BOOTSTRAP = "127.0.0.1:9092"


class PlatformSettings(BaseSettings):
    """Settings every service shares; a service subclasses it to add its own."""

    model_config = SettingsConfigDict(env_prefix="DHR_", extra="ignore", frozen=True)

    environment: str = Field(default="development", description="development, test or production.")
    database_url: str = Field(default=DEV_DATABASE_URL, description="PostgreSQL URL (asyncpg).")
    database_pool_size: int = Field(default=10, ge=1, le=200)
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
