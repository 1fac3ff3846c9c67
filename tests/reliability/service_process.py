"""A service run by its own composition root in a process of its own, so that a reliability
test can SIGKILL it.

    python service_process.py SERVICE [--die-after-effects N]

SERVICE is panel or oversight, configured as in production by DHR_* environment variables.
With `--die-after-effects N` its consumers kill the process themselves right after their Nth
effect committed and before that record's offset is committed to Kafka.
"""

from __future__ import annotations

import argparse
import functools
import logging
from typing import Any

import uvicorn
from crashing_consumer import ConsumerRuntimeThatDies

from dhr_oversight.__main__ import build_app as build_oversight_app
from dhr_oversight.__main__ import build_runtime as build_oversight_runtime
from dhr_oversight.config import OversightSettings
from dhr_panel.__main__ import build_app as build_panel_app
from dhr_panel.__main__ import build_runtime as build_panel_runtime
from dhr_panel.config import PanelSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", choices=["panel", "oversight"])
    parser.add_argument("--die-after-effects", type=int, default=None)
    arguments = parser.parse_args()

    settings: Any
    if arguments.service == "panel":
        settings = PanelSettings()
        runtime: Any = build_panel_runtime(settings)
        build_app: Any = build_panel_app
    else:
        settings = OversightSettings()
        runtime = build_oversight_runtime(settings)
        build_app = build_oversight_app
    if arguments.die_after_effects is not None:
        runtime.consumer_runtime_factory = functools.partial(
            ConsumerRuntimeThatDies, die_after_effects=arguments.die_after_effects)
    app = build_app(settings, runtime=runtime)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning",
                timeout_graceful_shutdown=15)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    main()
