"""``oms serve`` delivers webhooks from a child process of its own, at a lower CPU priority.

Dispatching folds every event a subscription wants and sending posts each delivery: in the
serving process's threads that work would compete with the writer and the HTTP workers for the
interpreter, and on a busy machine it would take cores from them. As a niced child process
(``oms webhooks work``) it takes what the commands leave; when it cannot keep up, it lags (and
``oms_webhook_lag_events`` says so) rather than slowing them. If it dies, it is started again.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading

log = logging.getLogger(__name__)
NICENESS = 10
RESTART_SECONDS = 2.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _lower_priority() -> None:
    """In the child, before it runs: a lower priority, and (on Linux) SIGTERM when the thread that
    started it ends, so the worker never outlives ``oms serve``, however that process ends."""
    os.nice(NICENESS)
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def supervise(database_url: str, stop: threading.Event) -> None:
    """Run ``oms webhooks work`` until ``stop``; start it again whenever it ends by itself."""
    env = {**os.environ, "OMS_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "api", "webhooks", "work"]
    while not stop.is_set():
        # The same interpreter and package as this process; no shell, no input from outside.
        child = subprocess.Popen(command, env=env, preexec_fn=_lower_priority, stdout=subprocess.DEVNULL)  # noqa: S603, PLW1509
        log.info("webhook worker process %d started", child.pid)
        while child.poll() is None and not stop.wait(0.5):
            pass
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
            return
        log.warning("webhook worker process %d ended (exit %s); starting it again", child.pid, child.returncode)
        stop.wait(RESTART_SECONDS)
