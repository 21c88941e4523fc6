"""Ctrl-C and SIGTERM while training: stop after the chunk in flight, checkpointed.

    with StopRequest(console) as stop:
        run_loop(..., stop=stop)           # checks `stop()` between chunks

The first SIGINT or SIGTERM only sets a flag (the jitted chunk in flight runs to its end; the
loop then checkpoints and returns `interrupted`). The handlers are then reset to the system's
defaults, so a second signal ends the process at once, as Ctrl-C normally does. Outside the main
thread (where Python cannot install handlers) it never asks to stop.
"""

import signal
import threading

from rich.console import Console

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Context manager: a callable that is True once a stop signal arrived."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.signal: str | None = None
        """Name of the signal that asked to stop, or None."""
        self._previous: dict = {}

    def __call__(self) -> bool:
        return self.signal is not None

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _handle(self, number: int, frame) -> None:
        self.signal = signal.Signals(number).name
        for s in SIGNALS:
            signal.signal(s, signal.SIG_DFL)
        self.console.print(
            f"\n[yellow]{self.signal}[/yellow]: stopping after the chunk in flight and "
            "checkpointing it; press Ctrl-C again to exit at once (losing that chunk)."
        )
