"""The workers' signal handler: a second signal that lands while the first is setting the stop
event must not wait for the event's lock, which its own thread holds."""

from __future__ import annotations

import signal
import threading

from api.cli_common import stop_on_signals


def test_a_signal_landing_inside_the_first_handlers_set_returns_at_once() -> None:
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        handler = stop_on_signals(stop, signal.SIGUSR1)
        assert signal.getsignal(signal.SIGUSR1) is handler
        handler(signal.SIGUSR1, None)  # the first signal
        assert stop.is_set()
        returned = threading.Event()

        def second_signal_inside_set() -> None:
            # As when the second handler runs on top of the first, inside stop.set(): the lock is held.
            handler(signal.SIGUSR1, None)
            returned.set()

        with stop._cond:  # type: ignore[attr-defined]
            runner = threading.Thread(target=second_signal_inside_set, daemon=True)
            runner.start()
            assert returned.wait(2), "the second signal's handler waited for the event's lock"
        runner.join(2)
    finally:
        signal.signal(signal.SIGUSR1, previous)
