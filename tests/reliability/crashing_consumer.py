"""A consumer runtime that crashes in the one window that matters, for `service_process.py`."""

from __future__ import annotations

import os
import signal
from typing import Any

from dhr_platform.consumers import ConsumerRuntime, Delivery, Effect


class ConsumerRuntimeThatDies(ConsumerRuntime):
    """Kills its own process (SIGKILL) right after its Nth effect committed and before the
    record's offset is committed to Kafka: the window in which a crash makes Kafka deliver again
    a record whose effect is already applied."""

    def __init__(self, *args: Any, die_after_effects: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.die_after_effects = die_after_effects
        self.committed_effects = 0

    async def _apply_once(self, consumer: str, delivery: Delivery, effect: Effect) -> bool:
        applied = await super()._apply_once(consumer, delivery, effect)
        # Counted at once, before any other await: records may be applied concurrently.
        self.committed_effects += applied
        if applied and self.committed_effects == self.die_after_effects:
            os.kill(os.getpid(), signal.SIGKILL)  # the effect and its inbox row are committed
        return applied
