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
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dhr_local.__main__ import DEFAULT_CONTROLLER_PORT, DEFAULT_KAFKA_PORT, DEFAULT_POSTGRES_PORT
from dhr_local.kafka import LocalKafka
from dhr_local.postgres import LocalPostgres
from dhr_local.process import default_state_dir
from dhr_local.sample import MANAGER, Identity, request, walk
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
    Service("integration", "dhr_integration", 8006),
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


async def _wait_ready(service: Service, within_seconds: float = 120.0) -> None:
    url = f"http://127.0.0.1:{_port(service)}/readyz"
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        try:
            status, _ = await asyncio.to_thread(request, "GET", url)
            if status == 200:
                return
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{service.name} was not ready within {within_seconds:.0f}s")


def load_sample(issuer: DevelopmentIssuer) -> str:
    """Take the sample review through its whole life (dhr_local.sample), showing progress; each
    step with a token of whoever acts in it (the area's review manager, or an agency)."""
    urls = {service.name: f"http://127.0.0.1:{_port(service)}" for service in SERVICES}
    tokens: dict[Identity, str] = {}

    def headers(who: Identity) -> dict[str, str]:
        if who not in tokens:
            tokens[who] = issuer.mint(role=who[0], organisation=who[1])
        # The walk reads what it recorded (names, testimony) as the review's own staff would.
        return {"Authorization": f"Bearer {tokens[who]}", "DHR-Purpose": "review-work"}

    def progress(number: int, total: int, title: str) -> None:
        _say(f"sample review [{number:2d}/{total}] {title}")

    made = walk(urls, headers=headers, on_step=progress)
    return made["review_id"]


def _welcome(review_id: str, token: str, state_dir: Path, log_dir: Path) -> str:
    commissioning = f"http://127.0.0.1:{_port(SERVICES[0])}"
    urls = "\n".join(f"    {service.name:<16} http://127.0.0.1:{_port(service)}/docs"
                      for service in SERVICES)
    bundle = state_dir / "audit-bundle"
    role, area = MANAGER
    return f"""the system is up, with a sample review taken from notification to publication.
  The services (each with its OpenAPI document at /docs; Authorize with a token):
{urls}
  Every call takes a bearer token; this one is the {area} {role.replace("_", " ")}'s for 8 hours
  (others: uv run dhr token --role ROLE --org ORG):
    export TOKEN={token}
  Look at the sample review:
    curl -s -H "Authorization: Bearer $TOKEN" -H "DHR-Purpose: review-work" \\
         {commissioning}/reviews/{review_id} | python3 -m json.tool
    uv run dhr history {review_id}                 its history across services, from Kafka
  Export and verify its audit bundle, as an oversight body would:
    uv run dhr export --review {review_id} --out {bundle}
    uv run dhr verify {bundle}
  Logs are in {log_dir}. Ctrl-C stops everything; `make run` again reuses the data."""


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
    # Logs are for a person at a terminal here (JSON lines are for log collectors).
    environment = {"DHR_LOG_FORMAT": "text", **os.environ, "DHR_KAFKA_BOOTSTRAP": bootstrap,
                   "DHR_DATABASE_URL": database_url, **authentication}
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
            review_id = await asyncio.to_thread(load_sample, issuer)
            manager = issuer.mint(role=MANAGER[0], organisation=MANAGER[1])
            _say(_welcome(review_id, manager, state_dir, log_dir))
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
