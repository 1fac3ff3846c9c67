"""Kafka wiring: how to reach the brokers (TLS, SASL), producers with safe settings, and
idempotent topic creation.

Every Kafka client of the platform and of the services (aiokafka, faststream, librdkafka) gets
its connection options from `KafkaConnection`, built from the `DHR_KAFKA_*` settings, so that
a TLS or SASL setting reaches all of them or none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed, TopicAlreadyExistsError
from pydantic import SecretStr

from dhr_platform.settings import PlatformSettings

log = logging.getLogger(__name__)

# The topics are the permanent history from which any review can be rebuilt (DESIGN §6).
PERMANENT_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "min.insync.replicas": "1"}


class KafkaAccessError(RuntimeError):
    """The brokers could not be reached or refused us; the message says which and why."""


@dataclass(frozen=True)
class KafkaConnection:
    """The brokers and how to reach them. A bare `host:port` (tests, local tools) is a
    PLAINTEXT connection. It holds paths and the password, never an open file or SSL context,
    so it can be handed to the ledger rebuild's worker processes."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> KafkaConnection:
        """The connection the settings describe (a password file is read now)."""
        sasl = settings.kafka_security_protocol.startswith("SASL_")
        return cls(
            bootstrap=settings.kafka_bootstrap,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism if sasl else None,
            username=settings.kafka_sasl_username if sasl else None,
            password=settings.kafka_password() if sasl else None,
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )

    @classmethod
    def of(cls, target: KafkaConnection | str) -> KafkaConnection:
        return target if isinstance(target, KafkaConnection) else cls(target)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in {"SSL", "SASL_SSL"}

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that verifies the brokers' certificates and host names against the
        CA file (or the system's CAs) and presents the client certificate, if any."""
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.cafile)
            if self.certfile is not None:
                context.load_cert_chain(self.certfile, self.keyfile)
        except (OSError, ssl.SSLError) as error:
            raise KafkaAccessError(
                f"Kafka TLS files (DHR_KAFKA_SSL_CAFILE, _CERTFILE, _KEYFILE): {error}") from error
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of every aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap,
                                   "security_protocol": self.security_protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            options.update(sasl_mechanism=self.sasl_mechanism,
                           sasl_plain_username=self.username,
                           sasl_plain_password=self.plain_password())
        return options

    def librdkafka_options(self) -> dict[str, Any]:
        """The same for librdkafka (confluent-kafka), which reads the files itself."""
        options: dict[str, Any] = {"bootstrap.servers": self.bootstrap,
                                   "security.protocol": self.security_protocol}
        if self.uses_tls:
            options["ssl.endpoint.identification.algorithm"] = "https"
            for name, path in (("ssl.ca.location", self.cafile),
                               ("ssl.certificate.location", self.certfile),
                               ("ssl.key.location", self.keyfile)):
                if path is not None:
                    options[name] = str(path)
        if self.uses_sasl:
            options.update({"sasl.mechanism": self.sasl_mechanism,
                            "sasl.username": self.username, "sasl.password": self.plain_password()})
        return options

    def describe(self) -> str:
        """For logs and errors: where and how, never the password."""
        how = self.security_protocol
        if self.uses_sasl:
            how += f", {self.sasl_mechanism} as {self.username}"
        if self.certfile is not None:
            how += ", client certificate"
        return f"{self.bootstrap} ({how})"

    def plain_password(self) -> str:
        """The SASL password itself, for a client library that wants it so."""
        return self.password.get_secret_value() if self.password is not None else ""


async def start_client(client: Any, kafka: KafkaConnection | str) -> None:
    """Start an aiokafka client; if the brokers cannot be used, close it and raise
    `KafkaAccessError` saying why (a refused login or certificate named as such)."""
    try:
        await client.start()
    except Exception as error:
        close = getattr(client, "stop", None) or client.close
        with contextlib.suppress(Exception):
            await close()
        raise KafkaAccessError(await explain_access_failure(KafkaConnection.of(kafka), error)
                               ) from error


async def explain_access_failure(connection: KafkaConnection, error: BaseException) -> str:
    """One line for an operator: aiokafka reports a failed login or TLS handshake only as
    "Unable to bootstrap" (the cause goes to its log), so one connection is opened here to
    find out."""
    reason = f"{type(error).__name__}: {error}"
    options = connection.client_options()
    options.pop("bootstrap_servers")
    for host, port, _ in collect_hosts(connection.bootstrap, randomize=False):
        try:
            probe = await asyncio.wait_for(
                create_conn(host, port, client_id="dhr-connection-check",
                            request_timeout_ms=5000, **options), 10)
        except ssl.SSLCertVerificationError as failure:
            reason = (f"the broker's certificate was refused ({failure.verify_message}): check "
                      "DHR_KAFKA_SSL_CAFILE and the host name in DHR_KAFKA_BOOTSTRAP")
            break
        except SaslAuthenticationFailed as failure:
            reason = (f"the broker refused the login ({failure}): check "
                      "DHR_KAFKA_SASL_USERNAME, the password and DHR_KAFKA_SASL_MECHANISM")
            break
        except (OSError, TimeoutError, KafkaError) as failure:
            reason = f"{host}:{port} cannot be reached ({type(failure).__name__}: {failure})"
            continue
        probe.close()
    return f"Kafka {connection.describe()}: {reason}"


def safe_producer(kafka: KafkaConnection | str, client_id: str,
                  **overrides: object) -> AIOKafkaProducer:
    """A producer that neither loses nor duplicates on retry (the client defaults are weaker)."""
    settings: dict[str, object] = {
        **KafkaConnection.of(kafka).client_options(),
        "client_id": client_id,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "request_timeout_ms": 15_000,
        "retry_backoff_ms": 200,
    }
    settings.update(overrides)
    return AIOKafkaProducer(**settings)


async def ensure_topics(
    kafka: KafkaConnection | str,
    topics: Iterable[str],
    *,
    partitions: int,
    replication_factor: int,
    config: dict[str, str] | None = None,
) -> None:
    """Create the topics that do not exist yet; existing ones are left alone."""
    admin = AIOKafkaAdminClient(**KafkaConnection.of(kafka).client_options(),
                                client_id="dhr-topic-admin")
    await start_client(admin, kafka)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=topic,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs=dict(config or PERMANENT_TOPIC_CONFIG),
            )
            for topic in dict.fromkeys(topics)
            if topic not in existing
        ]
        if not wanted:
            return
        response = await admin.create_topics(wanted)
        for name, code, *rest in response.topic_errors:
            # 36 is TOPIC_ALREADY_EXISTS: another replica created it first.
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"could not create topic {name}: error {code} {rest}")
        log.info("created topics %s", [topic.name for topic in wanted])
    finally:
        await admin.close()


async def kafka_reachable(kafka: KafkaConnection | str) -> bool:
    """A real metadata round trip, for readiness."""
    admin = AIOKafkaAdminClient(**KafkaConnection.of(kafka).client_options(),
                                client_id="dhr-readiness", request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except Exception:
        return False
    finally:
        await admin.close()
