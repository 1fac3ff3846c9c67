"""Looking for personal data in plain text wherever the system writes: every Kafka topic (keys,
headers and values), every table of the database, every file the run wrote (service logs, the
audit bundle), the run's output, and the spans and metrics exported over OTLP."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from dhr_local.process import free_port

# What the sample walk (dhr_local.sample) records in fields its contracts mark personal.
SAMPLE_PERSONAL_VALUES = (
    "Sample Victim Name", "Sample Suspect Name", "Independent Chair (sample)",
    "Family member (sample)", "Described how isolated the victim had become.",
    "Facilitator (sample)", "Earlier call-outs must be visible to call handlers.",
    "Agencies' contact with the victim, 2021 to 2026.",
)


class OtlpCollector:
    """An OTLP/HTTP endpoint that keeps every export's raw bytes (protobuf keeps strings as
    UTF-8, so a plain search finds them)."""

    def __init__(self) -> None:
        self.exports: list[tuple[str, bytes]] = []
        self.port = free_port()

    @contextmanager
    def running(self) -> Iterator[str]:
        exports = self.exports

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                exports.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{self.port}"
        finally:
            server.shutdown()
            server.server_close()

    def spans(self) -> bytes:
        return b"".join(body for path, body in self.exports if path == "/v1/traces")


async def kafka_records(bootstrap: str, quiet_seconds: float = 3.0) -> list[bytes]:
    """Key, headers and value of every record of every dhr topic, from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[bytes] = []
    try:
        consumer.subscribe(pattern=r"^dhr\..*")
        idle_since = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - idle_since < quiet_seconds:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                idle_since = asyncio.get_running_loop().time()
                for record in records:
                    found.append(b"\n".join([record.key or b"", record.value or b"",
                                             *(value for _, value in record.headers)]))
    finally:
        await consumer.stop()
    return found


def files_under(directory: Path) -> Iterable[tuple[Path, bytes]]:
    for path in directory.rglob("*"):
        if path.is_file():
            yield path, path.read_bytes()


def leaks(values: Iterable[str], places: dict[str, bytes]) -> list[str]:
    """`value in place` for every personal value found in plain text somewhere."""
    return [f"{value!r} in {place}" for value in values for place, text in places.items()
            if value.encode() in text]
