"""Service processes for the benchmarks, as a user runs them, and a lean HTTP/1.1 client.

Each service runs as `python -m dhr_<service>` (uvicorn on a free port, its outbox relay and
consumers running) with its own log file; its peak resident memory is read from
/proc/<pid>/status (VmHWM) before it stops. The client speaks keep-alive HTTP/1.1 over a plain
socket so that the load generator, which shares the machine with the servers, spends as little
CPU per request as it can (httpx costs several times more).

A service runs as `replicas` processes (the Helm chart runs each service as two replicas by
default, DHR_BENCH_REPLICAS here), each on a port of its own; clients spread their connections
over them as a Kubernetes Service does.

Where the services verify bearer tokens (`support.tokens` exists), `running` makes them trust a
test issuer and every request carries a Norfolk review manager's token; the benchmarks keep
their reviews in Norfolk so that this one principal may notify and change them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from dhr_local.process import free_port


def figure(name: str, value: float, unit: str) -> None:
    print(f"figure: {name} {value:.1f} {unit}", flush=True)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class ServiceProcess:
    """One service started as its composition root starts it, on a free port; `headers` go
    with every request to it (a bearer token, where the services want one)."""

    def __init__(self, name: str, database_url: str, bootstrap: str, log_dir: Path,
                 headers: dict[str, str] | None = None, replica: int = 0,
                 **settings: str) -> None:
        self.name = name
        self.headers = dict(headers or {})
        self.port = free_port()
        self.log = log_dir / f"{name}-{replica}.log"
        env = {**os.environ, "DHR_DATABASE_URL": database_url, "DHR_KAFKA_BOOTSTRAP": bootstrap,
               "DHR_HTTP_PORT": str(self.port), "DHR_ENVIRONMENT": "test"}
        env.update({f"DHR_{key.upper()}": value for key, value in settings.items()})
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"dhr_{name}"], env=env, stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT)
        self.peak_rss_mb: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(OSError, ConnectionError, ValueError):
                connection = await HttpConnection.open(self.port)
                try:
                    status, _ = await connection.request("GET", "/readyz")
                finally:
                    connection.close()
                if status == 200:
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f}s")

    def read_peak_rss_mb(self) -> float:
        """VmHWM: the most resident memory the process has had so far."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmHWM for {self.name} (pid {self.pid})")

    def stop(self) -> float:
        """Note the peak RSS, then stop it as an operator would (SIGTERM, graceful)."""
        if self.process.poll() is None:
            self.peak_rss_mb = self.read_peak_rss_mb()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert self.peak_rss_mb is not None
        return self.peak_rss_mb


def replicas_wanted() -> int:
    """How many processes each service runs as: DHR_BENCH_REPLICAS, else the chart's two."""
    return int(os.environ.get("DHR_BENCH_REPLICAS", "2"))


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Service:
    """One service's replicas, as a Deployment runs them behind a Kubernetes Service: client
    `n` connects to replica `n` modulo their number."""

    def __init__(self, name: str, headers: dict[str, str]) -> None:
        self.name = name
        self.headers = headers
        self.replicas: list[ServiceProcess] = []

    def port_for(self, client: int) -> int:
        return self.replicas[client % len(self.replicas)].port

    def cpu_seconds(self) -> float:
        """CPU time its replicas have used so far, together."""
        return sum(cpu_seconds(replica.pid) for replica in self.replicas)

    def stop(self) -> float:
        """Stop every replica; the highest peak RSS of them (what each pod must be given)."""
        return max(replica.stop() for replica in self.replicas)


class Fleet:
    """Running services by name; each one's peak RSS is printed when it stops."""

    def __init__(self) -> None:
        self.services: dict[str, Service] = {}

    def __getitem__(self, name: str) -> Service:
        return self.services[name]

    def stop(self, name: str) -> None:
        service = self.services.pop(name)
        figure(f"peak_rss_mb_{name}", service.stop(), "MB")


@contextlib.asynccontextmanager
async def running(names: Iterable[str], database_url: str, bootstrap: str, log_dir: Path,
                  replicas: int | None = None, **settings: str) -> AsyncIterator[Fleet]:
    """Start the services, each as `replicas` processes (one after the other: they migrate
    and create topics), yield them, then stop those still running and print their peak RSS."""
    replicas = replicas or replicas_wanted()
    figure("replicas_per_service", replicas, "processes")
    fleet = Fleet()
    headers: dict[str, str] = {}
    try:
        from support.tokens import REVIEW_MANAGER_NORFOLK, TestIssuer
    except ImportError:  # services without bearer tokens
        pass
    else:
        issuer = TestIssuer(log_dir / "issuer")
        settings = {**{key: str(value) for key, value in issuer.settings().items()}, **settings}
        headers = issuer.headers(REVIEW_MANAGER_NORFOLK)
    try:
        for name in names:
            service = fleet.services[name] = Service(name, headers)
            for replica in range(replicas):
                process = ServiceProcess(name, database_url, bootstrap, log_dir, headers,
                                         replica=replica, **settings)
                service.replicas.append(process)
                await process.wait_ready()
        yield fleet
    finally:
        for name in list(fleet.services):
            fleet.stop(name)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1; responses must carry Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int):
        self.reader = reader
        self.writer = writer
        self.host = f"127.0.0.1:{port}".encode()

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, port)

    async def request(self, method: str, path: str, body: Any = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """Send one request and return the status and the decoded JSON answer."""
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host,
                 b"Content-Length: " + str(len(payload)).encode()]
        if body is not None:
            lines.append(b"Content-Type: application/json")
        lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
        self.writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        length = None
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length is None:
            raise ValueError(f"no Content-Length in the answer: {status_line}")
        answer = await self.reader.readexactly(length)
        return int(status_line.split()[1]), json.loads(answer) if answer else None

    def close(self) -> None:
        self.writer.close()
