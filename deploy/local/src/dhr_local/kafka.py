"""A real single-node Apache Kafka broker (KRaft, broker and controller in one JVM) run from Maven jars."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from dhr_local.process import (
    LOCAL_DEPLOY_DIR,
    InfrastructureError,
    cache_dir,
    is_alive,
    kill,
    read_pid,
    tail,
    terminate,
)

KAFKA_DIR = LOCAL_DEPLOY_DIR / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.properties"
HEAP_OPTIONS = ["-Xms256m", "-Xmx512m"]
MINIMUM_JAVA = 17
_PROCESS_MARK = "kafka.Kafka"  # in the broker's command line; guards against stale pid files


def kafka_version() -> str:
    """The Kafka version pinned in deploy/local/kafka/pom.xml."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if match is None:
        raise InfrastructureError(f"{POM} does not declare <kafka.version>")
    return match.group(1).strip()


def libs_dir() -> Path:
    return cache_dir() / f"kafka-{kafka_version()}" / "libs"


def resolve_jars() -> Path:
    """The directory of broker jars, fetched from Maven Central on first use and reused after.

    The directory carries a fingerprint of the pom, so editing the pom (a version bump) fetches
    again instead of silently running the old jars.
    """
    libs = libs_dir()
    fingerprint = hashlib.sha256(POM.read_bytes()).hexdigest()
    marker_name = ".resolved-from-pom"
    if _read_text(libs / marker_name) == fingerprint:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfrastructureError("Maven (mvn) is needed once to fetch the Kafka jars; install it")
    staging = libs.parent / f"libs.staging-{uuid.uuid4().hex[:8]}"
    staging.parent.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={staging}"],
        cwd=KAFKA_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        raise InfrastructureError(
            f"mvn could not fetch the Kafka jars (exit {completed.returncode}):\n"
            f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    (staging / marker_name).write_text(fingerprint)
    shutil.rmtree(libs, ignore_errors=True)
    try:
        staging.rename(libs)
    except OSError:
        # Another process finished the same download first; use its copy.
        shutil.rmtree(staging, ignore_errors=True)
        if _read_text(libs / marker_name) != fingerprint:
            raise
    return libs


def find_java() -> str:
    """The `java` of $JAVA_HOME or PATH, checked to be version 17 or later."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).exists():
        raise InfrastructureError(
            f"Java {MINIMUM_JAVA}+ is needed for the local Kafka broker: set JAVA_HOME or put java on PATH"
        )
    completed = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    output = completed.stderr + completed.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if match is None:
        raise InfrastructureError(f"cannot tell the version of {java}:\n{output}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" is Java 8
        major = int(match.group(2))
    if major < MINIMUM_JAVA:
        raise InfrastructureError(
            f"{java} is Java {major}; Kafka 4 needs Java {MINIMUM_JAVA} or later (set JAVA_HOME)"
        )
    return java


def random_cluster_id() -> str:
    """A cluster id in Kafka's format: a random UUID, base64url without padding, not starting '-'."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


SCRAM_MECHANISM = "SCRAM-SHA-512"


class LocalKafka:
    """One Kafka broker in KRaft combined mode, its data, logs and pid under `state_dir`.

    With `scram_users` (user name to password) its client listener on `port` is SASL_PLAINTEXT
    with SCRAM-SHA-512, the users' credentials written when its storage is formatted (a broker
    formatted before keeps the users it had). The broker itself (inter-broker traffic) and the
    readiness probe then use a PLAINTEXT listener on `internal_port`, as a cluster's replication
    listener would.
    """

    def __init__(self, state_dir: Path, port: int = 9092, controller_port: int = 9093, *,
                 scram_users: Mapping[str, str] | None = None,
                 internal_port: int | None = None) -> None:
        if scram_users and internal_port is None:
            raise ValueError("a SCRAM listener needs an internal_port for the broker itself")
        self.state_dir = Path(state_dir).resolve()
        self.port = port
        self.controller_port = controller_port
        self.scram_users = dict(scram_users or {})
        self.internal_port = internal_port if self.scram_users else None
        self.data_dir = self.state_dir / "data"
        self.properties_file = self.state_dir / "server.properties"
        self.pid_file = self.state_dir / "kafka.pid"
        self.output_log = self.state_dir / "kafka.out"  # JVM stdout/stderr
        self.server_log = self.state_dir / "server.log"  # log4j, see log4j2.properties
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def _probe_port(self) -> int:
        """Where readiness is asked: a SASL listener answers nothing before a login."""
        return self.internal_port or self.port

    @property
    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def is_running(self) -> bool:
        pid = self.pid
        return pid is not None and is_alive(pid, _PROCESS_MARK)

    def start(self) -> None:
        """Fetch jars if missing, format storage on first use, and launch the broker in background.

        Returns at once; call `wait_ready` before using the broker. Does nothing if it already runs.
        """
        if self.is_running():
            return
        java = find_java()
        libs = resolve_jars()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._write_server_properties()
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage(java, libs)
        with self.output_log.open("ab") as output:
            self._process = subprocess.Popen(
                [*self._java_command(java, libs), "kafka.Kafka", str(self.properties_file)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                # Its own session: a Ctrl-C meant for the caller does not kill the broker midway.
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._process.pid}\n")

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Block until the broker answers a metadata request listing itself; return seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        last_error: Exception | None = None
        while True:
            if not self.is_running():
                raise InfrastructureError(f"the Kafka broker exited during start\n{self._logs()}")
            try:
                brokers = fetch_broker_ports("127.0.0.1", self._probe_port, timeout=2.0)
                if self._probe_port in brokers:
                    return time.monotonic() - started
            except (OSError, InfrastructureError) as error:
                last_error = error
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"the Kafka broker did not answer on {self.bootstrap} within {timeout:.0f}s "
                    f"(last error: {last_error})\n{self._logs()}"
                )
            time.sleep(0.2)

    def is_ready(self) -> bool:
        try:
            return self._probe_port in fetch_broker_ports("127.0.0.1", self._probe_port,
                                                          timeout=2.0)
        except (OSError, InfrastructureError):
            return False

    def stop(self, timeout: float = 60.0) -> None:
        """Shut the broker down cleanly (SIGTERM), killing it if it has not exited after `timeout`."""
        pid = self.pid
        if pid is not None:
            terminate(pid, timeout, _PROCESS_MARK)
        self._forget_process()

    def kill(self) -> None:
        """Kill the broker with SIGKILL, as a crash would (for reliability tests)."""
        pid = self.pid
        if pid is not None and is_alive(pid, _PROCESS_MARK):
            kill(pid)
        self._forget_process()

    def _forget_process(self) -> None:
        if self._process is not None:
            try:
                self._process.wait(timeout=10)  # reap the zombie of a child we started
            except subprocess.TimeoutExpired:
                pass
            self._process = None
        self.pid_file.unlink(missing_ok=True)

    def _java_command(self, java: str, libs: Path) -> list[str]:
        return [
            java,
            *HEAP_OPTIONS,
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            # Kafka flushes and closes its logs in its own shutdown hook; log4j's hook would close
            # the log file first and the last lines of a clean shutdown would be lost.
            "-Dlog4j2.shutdownHookEnabled=false",
            f"-Dkafka.logs.dir={self.state_dir}",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            f"{libs}/*",
        ]

    def _format_storage(self, java: str, libs: Path) -> None:
        command = [
            *self._java_command(java, libs),
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            random_cluster_id(),
            "-c",
            str(self.properties_file),
        ]
        for user, password in self.scram_users.items():
            command += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"]
        completed = subprocess.run(command, cwd=self.state_dir, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise InfrastructureError(
                f"formatting Kafka storage failed (exit {completed.returncode}):\n"
                f"{completed.stdout}\n{completed.stderr}"
            )

    def _write_server_properties(self) -> None:
        quorum = f"127.0.0.1:{self.controller_port}"
        previous = _read_text(self.properties_file) or ""
        formatted = (self.data_dir / "meta.properties").exists()
        if formatted and f"controller.quorum.bootstrap.servers={quorum}\n" not in previous:
            # The controller's endpoint is written into the metadata log when storage is formatted.
            raise InfrastructureError(
                f"{self.state_dir} was formatted for another controller port; use that port "
                f"again or delete the directory to start an empty broker"
            )
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": quorum,
            **self._listeners(quorum),
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            # Fewer internal partitions than the default 50: the first consumer group or
            # transaction on a fresh broker then waits for 10 partitions to come up, not 50.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Services create their topics (with their retention) themselves.
            "auto.create.topics.enable": "false",
        }
        self.properties_file.write_text(
            "# Written by dhr_local.kafka on every start; edit LocalKafka instead.\n"
            + "".join(f"{key}={value}\n" for key, value in properties.items())
        )

    def _listeners(self, quorum: str) -> dict[str, str]:
        if not self.scram_users:
            return {
                "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://{quorum}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            }
        clients = f"SASL_PLAINTEXT://127.0.0.1:{self.port}"
        internal = f"INTERNAL://127.0.0.1:{self.internal_port}"
        return {
            "listeners": f"{clients},{internal},CONTROLLER://{quorum}",
            "advertised.listeners": f"{clients},{internal}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map":
                "SASL_PLAINTEXT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        }

    def _logs(self) -> str:
        return (
            f"--- {self.output_log} ---\n{tail(self.output_log)}\n"
            f"--- {self.server_log} ---\n{tail(self.server_log)}"
        )


def fetch_broker_ports(host: str, port: int, timeout: float) -> set[int]:
    """Send a Kafka Metadata request (v4) and return the ports of the brokers it lists.

    A raw request over a socket rather than a client library, so readiness can be checked from
    synchronous code without an event loop. A KRaft broker lists itself only once it is unfenced.
    """
    client_id = b"dhr-local"
    correlation_id = 1
    # Header v1: api key 3 (Metadata), version 4, correlation id, client id.
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    # Body: topics null (all of them), allow_auto_topic_creation false.
    request = header + struct.pack(">ib", -1, 0)
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _receive(connection, 4))
        response = _receive(connection, size)
    (received_correlation, _throttle_ms, broker_count) = struct.unpack_from(">iii", response, 0)
    if received_correlation != correlation_id:
        raise InfrastructureError("the Kafka broker answered another request")
    offset, ports = 12, set()
    for _ in range(broker_count):
        offset += 4  # node_id
        (host_length,) = struct.unpack_from(">h", response, offset)
        offset += 2 + host_length
        (broker_port, rack_length) = struct.unpack_from(">ih", response, offset)
        offset += 6 + max(rack_length, 0)
        ports.add(broker_port)
    return ports


def _receive(connection: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = connection.recv(min(remaining, 65536))
        if not chunk:
            raise InfrastructureError("the Kafka broker closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
