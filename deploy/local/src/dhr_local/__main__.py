"""`dhr-local up | down | status`: the native Kafka broker and PostgreSQL cluster for `make run`.

`up` prints shell exports on stdout (progress goes to stderr), so `eval "$(dhr-local up)"` works;
the same exports are kept in <state dir>/env for `source`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from dhr_local.kafka import LocalKafka
from dhr_local.postgres import LocalPostgres
from dhr_local.process import InfrastructureError, default_state_dir

DEFAULT_KAFKA_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093
DEFAULT_POSTGRES_PORT = 55432


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    state_dir: Path = arguments.state_dir.resolve()
    kafka = LocalKafka(
        state_dir / "kafka", port=arguments.kafka_port, controller_port=arguments.controller_port
    )
    postgres = LocalPostgres(state_dir / "postgres", port=arguments.pg_port)
    try:
        if arguments.command == "up":
            return up(state_dir, kafka, postgres)
        if arguments.command == "down":
            return down(kafka, postgres)
        return status(state_dir, kafka, postgres)
    except InfrastructureError as error:
        print(f"dhr-local: {error}", file=sys.stderr)
        return 1


def up(state_dir: Path, kafka: LocalKafka, postgres: LocalPostgres) -> int:
    """Start what is not given by the environment, wait until both answer, print the exports."""
    external_kafka = os.environ.get("DHR_KAFKA_BOOTSTRAP")
    external_database = os.environ.get("DHR_DATABASE_URL")
    started = time.monotonic()
    if external_kafka:
        _say(f"using the Kafka broker at {external_kafka} (DHR_KAFKA_BOOTSTRAP)")
    elif kafka.is_running():
        _say(f"Kafka already runs (pid {kafka.pid}, state in {kafka.state_dir})")
    else:
        _say(f"starting Kafka on {kafka.bootstrap} (state in {kafka.state_dir})")
        kafka.start()  # returns at once; PostgreSQL starts while the JVM boots
    if external_database:
        _say("using the database at DHR_DATABASE_URL")
    else:
        _say(f"starting PostgreSQL on 127.0.0.1:{postgres.port} (state in {postgres.state_dir})")
        postgres.start()  # does nothing but wait for a connection if it already runs
    if not external_kafka:
        kafka.wait_ready()
    _say(f"ready in {time.monotonic() - started:.1f}s")
    exports = (
        f"export DHR_KAFKA_BOOTSTRAP={external_kafka or kafka.bootstrap}\n"
        f"export DHR_DATABASE_URL={external_database or postgres.url}\n"
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "env").write_text(exports)
    print(exports, end="")
    return 0


def down(kafka: LocalKafka, postgres: LocalPostgres) -> int:
    """Stop both if they run here (whatever ports they were started with)."""
    if kafka.is_running():
        _say(f"stopping Kafka (pid {kafka.pid})")
        kafka.stop()
    if postgres.is_running():
        _say(f"stopping PostgreSQL (pid {postgres.pid})")
        postgres.stop()
    return 0


def status(state_dir: Path, kafka: LocalKafka, postgres: LocalPostgres) -> int:
    """Print what runs; exit 0 only when both run."""
    kafka_state = (
        "ready" if kafka.is_ready() else "running, not answering" if kafka.is_running() else "stopped"
    )
    postgres_state = "running" if postgres.is_running() else "stopped"
    print(f"kafka      {kafka_state:<24} pid {kafka.pid or '-'}  {kafka.state_dir}")
    print(f"postgres   {postgres_state:<24} pid {postgres.pid or '-'}  {postgres.state_dir}")
    env_file = state_dir / "env"
    if env_file.exists():
        print(env_file.read_text(), end="")
    return 0 if kafka.is_running() and postgres.is_running() else 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dhr-local", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=default_state_dir(),
        help="data, logs and pids (default: $DHR_STATE_DIR or <repository>/.local)",
    )
    parser.add_argument("--kafka-port", type=int, default=DEFAULT_KAFKA_PORT)
    parser.add_argument("--controller-port", type=int, default=DEFAULT_CONTROLLER_PORT)
    parser.add_argument("--pg-port", type=int, default=DEFAULT_POSTGRES_PORT)
    return parser


def _say(message: str) -> None:
    print(f"dhr-local: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
