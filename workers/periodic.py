"""A daemon thread that does one pass of some work again and again, from start to stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Periodic:
    """Calls ``step`` every ``interval_s`` (or after the seconds ``step`` returns, when it does).

    A failing pass (Redis or TorchServe away) is logged and tried again at the next interval.
    """

    def __init__(self, name: str, step: Callable[[], float | None], interval_s: float) -> None:
        self.name, self.step, self.interval_s = name, step, interval_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while True:
            wait = self.interval_s
            try:
                wait = self.step() or self.interval_s
            except Exception:
                logger.warning("%s: pass failed", self.name, exc_info=True)
            if self.stopped.wait(wait):
                return
