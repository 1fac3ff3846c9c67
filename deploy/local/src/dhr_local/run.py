"""`dhr-run` (what `make run` calls): the whole system on one machine.

Starts Kafka and PostgreSQL natively (unless DHR_KAFKA_BOOTSTRAP / DHR_DATABASE_URL point
elsewhere), runs every service as a child process under a small supervisor that reports and
restarts a service that dies, loads a sample review, prints where to look, and on Ctrl-C stops
the services and then the infrastructure it started.

The services trust the local development token issuer (a key generated once into
<state dir>/auth) unless DHR_AUTH_* variables name another; `make run` prints a token of it, and
`uv run dhr token --role ROLE --org ORG` mints others.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dhr_local.__main__ import DEFAULT_CONTROLLER_PORT, DEFAULT_KAFKA_PORT, DEFAULT_POSTGRES_PORT
from dhr_local.kafka import LocalKafka
from dhr_local.postgres import LocalPostgres
from dhr_local.process import default_state_dir
from dhr_platform.dev_issuer import DevelopmentIssuer


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int


# DESIGN §10 default ports; each overridable with DHR_<NAME>_PORT.
SERVICES = (
    Service("commissioning", "dhr_commissioning", 8001),
    Service("panel", "dhr_panel", 8002),
    Service("learning", "dhr_learning", 8003),
    Service("recommendations", "dhr_recommendations", 8004),
    Service("oversight", "dhr_oversight", 8005),
)


def _say(message: str) -> None:
    print(f"dhr-run: {message}", flush=True)


def _port(service: Service) -> int:
    return int(os.environ.get(f"DHR_{service.name.upper()}_PORT", service.port))


class Supervisor:
    """Runs each service as a child process; one that dies is reported and restarted."""

    def __init__(self, services: tuple[Service, ...], environment: dict[str, str], log_dir: Path):
        self.services = services
        self.environment = environment
        self.log_dir = log_dir
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self._output_tasks: set[asyncio.Task[None]] = set()
        self.stopping = False

    async def _spawn(self, service: Service) -> asyncio.subprocess.Process:
        env = dict(self.environment, DHR_HTTP_PORT=str(_port(service)))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", service.module, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        self.processes[service.name] = process
        task = asyncio.create_task(self._relay_output(service, process))
        self._output_tasks.add(task)
        task.add_done_callback(self._output_tasks.discard)
        return process

    async def _relay_output(self, service: Service, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        log_file = (self.log_dir / f"{service.name}.log").open("ab")
        try:
            async for line in process.stdout:
                log_file.write(line)
                log_file.flush()
                if os.environ.get("DHR_RUN_QUIET") != "1":
                    sys.stdout.write(f"[{service.name}] {line.decode(errors='replace')}")
                    sys.stdout.flush()
        finally:
            log_file.close()

    async def supervise(self, service: Service) -> None:
        backoff = 1.0
        while not self.stopping:
            started = time.monotonic()
            process = await self._spawn(service)
            code = await process.wait()
            if self.stopping:
                return
            _say(f"{service.name} exited with code {code}; restarting in {backoff:.0f}s")
            await asyncio.sleep(backoff)
            backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, 30.0)

    async def stop(self) -> None:
        self.stopping = True
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                _say(f"{name} did not stop in time; killing it")
                process.kill()


def _request(method: str, url: str, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    # Only http://127.0.0.1 URLs of our own services reach here.
    request = urllib.request.Request(  # noqa: S310
        url, data=data, method=method,
        headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


async def _wait_ready(service: Service, within_seconds: float = 120.0) -> None:
    url = f"http://127.0.0.1:{_port(service)}/readyz"
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        try:
            status, _ = await asyncio.to_thread(_request, "GET", url)
            if status == 200:
                return
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{service.name} was not ready within {within_seconds:.0f}s")


# The sample review's Chair is the default subject of `dhr token --role chair`.
SAMPLE_CHAIR = "dev-chair"


def _sample_review() -> list[tuple[str, str, dict[str, Any]]]:
    """A review walked from notification to Chair appointment, each step with a fixed
    Idempotency-Key so that running `make run` again does not load it twice."""
    notification = {
        "notifying_agency": "Norfolk Constabulary",
        "date_of_death": "2026-09-14",
        "csp_learned_on": "2026-09-16",
        "csp_area": "Norfolk",
        "victim_age_band": "25-34",
        "suspect_relationship": "current_intimate_partner",
        "circumstances": "homicide",
        "prior_agency_contact": "yes",
    }
    return [
        ("sample-notification", "/reviews", notification),
        ("sample-decision", "/reviews/{id}/decision-to-commission",
         {"decided_on": "2026-10-01", "rationale": "Statutory criteria met: intimate partner "
          "homicide of a person aged over 16 with prior agency contact."}),
        ("sample-home-office", "/reviews/{id}/home-office-notification", {"notified_on": "2026-10-02"}),
        ("sample-chair", "/reviews/{id}/chair",
         {"appointed_on": "2026-10-20", "chair_name": "Independent Chair (sample)",
          "chair_subject": SAMPLE_CHAIR,
          "declaration": {"line_management_of_involved_agency": False,
                          "service_delivery_for_involved_agency": False}}),
    ]


SAMPLE_AREA = "Norfolk"


def load_sample(base_url: str, token: str) -> str:
    """Load the sample review as the review manager of its area (`token`)."""
    review_id = ""
    for key, path, body in _sample_review():
        status, answer = _request("POST", base_url + path.replace("{id}", review_id), body,
                                  {"Idempotency-Key": key, "Authorization": f"Bearer {token}"})
        if status >= 400:
            raise RuntimeError(f"loading the sample review failed at {path}: {status} {answer}")
        review_id = review_id or answer["review_id"]
    return review_id


def _welcome(commissioning: str, review_id: str, token: str, log_dir: Path) -> str:
    panel, oversight = (f"http://127.0.0.1:{_port(SERVICES[i])}" for i in (1, 4))
    return f"""the system is up. Every call takes a bearer token; this one is a {SAMPLE_AREA}
  review manager's for 8 hours (others: uv run dhr token --role ROLE --org ORG):
    export TOKEN={token}
    curl -s -H "Authorization: Bearer $TOKEN" {commissioning}/reviews | python3 -m json.tool
    curl -s -H "Authorization: Bearer $TOKEN" {commissioning}/reviews/{review_id} | python3 -m json.tool
    curl -s -H "Authorization: Bearer $TOKEN" {commissioning}/reviews/{review_id}/events
    curl -s -H "Authorization: Bearer $TOKEN" {panel}/panels/{review_id}
    curl -s -H "Authorization: Bearer $TOKEN" {oversight}/checkpoints/latest
    uv run dhr history {review_id}
    open {commissioning}/docs for the API (each service has /docs; Authorize with the token);
  logs in {log_dir}
  Ctrl-C stops everything."""


async def run() -> int:
    state_dir = default_state_dir().resolve()
    log_dir = state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    kafka = LocalKafka(state_dir / "kafka",
                       port=int(os.environ.get("DHR_KAFKA_PORT", DEFAULT_KAFKA_PORT)),
                       controller_port=int(os.environ.get("DHR_KAFKA_CONTROLLER_PORT",
                                                          DEFAULT_CONTROLLER_PORT)))
    postgres = LocalPostgres(state_dir / "postgres",
                             port=int(os.environ.get("DHR_POSTGRES_PORT", DEFAULT_POSTGRES_PORT)))
    bootstrap = os.environ.get("DHR_KAFKA_BOOTSTRAP")
    database_url = os.environ.get("DHR_DATABASE_URL")
    started_kafka = started_postgres = False
    if not bootstrap:
        _say(f"starting Kafka (KRaft) on {kafka.bootstrap}; logs in {kafka.state_dir}")
        if not kafka.is_running():
            kafka.start()
            started_kafka = True
        bootstrap = kafka.bootstrap
    if not database_url:
        _say(f"starting PostgreSQL on 127.0.0.1:{postgres.port}; data in {postgres.state_dir}")
        started_postgres = not postgres.is_running()
        postgres.start()
        database_url = postgres.url
    if started_kafka or kafka.is_running():
        await asyncio.to_thread(kafka.wait_ready)
    issuer = DevelopmentIssuer.load_or_create(state_dir / "auth")
    authentication = ({} if os.environ.get("DHR_AUTH_ISSUER") else issuer.environment())
    _say("bearer tokens: " + (f"the development issuer (key in {issuer.directory})"
                              if authentication else "the issuer of DHR_AUTH_*"))
    environment = dict(os.environ, DHR_KAFKA_BOOTSTRAP=bootstrap, DHR_DATABASE_URL=database_url,
                       **authentication)
    supervisor = Supervisor(SERVICES, environment, log_dir)
    tasks = [asyncio.create_task(supervisor.supervise(service)) for service in SERVICES]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        for service in SERVICES:
            await _wait_ready(service)
            _say(f"{service.name} ready on http://127.0.0.1:{_port(service)}")
        commissioning = f"http://127.0.0.1:{_port(SERVICES[0])}"
        if authentication:
            manager = issuer.mint(role="review_manager", organisation=SAMPLE_AREA)
            review_id = await asyncio.to_thread(load_sample, commissioning, manager)
            _say(_welcome(commissioning, review_id, manager, log_dir))
        else:
            _say(f"the system is up (no sample loaded: tokens come from your own issuer); API "
                 f"at {commissioning}/docs; logs in {log_dir}. Ctrl-C stops everything.")
        await stop.wait()
    finally:
        _say("stopping the services")
        await supervisor.stop()
        for task in tasks:
            task.cancel()
        if started_kafka:
            _say("stopping Kafka")
            kafka.stop()
        if started_postgres:
            _say("stopping PostgreSQL")
            postgres.stop()
    return 0


def main() -> None:
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
