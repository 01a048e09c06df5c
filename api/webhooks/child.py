"""``oms serve`` delivers webhooks from a child process of its own, at the lowest CPU priority.

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
from contextlib import suppress
from pathlib import Path

log = logging.getLogger(__name__)
NICENESS = 19
RESTART_SECONDS = 2.0
APPLICATION_NAME = "oms-webhooks"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _lower_priority() -> None:
    """In the child, before it runs: the lowest CPU priority, and (on Linux) SIGTERM when the
    thread that started it ends, so the worker never outlives ``oms serve``, however that ends."""
    os.nice(NICENESS)
    if sys.platform != "linux":
        return
    # Nice alone is weak on Linux: with autogrouping, a niced process in the server's session
    # shares that session's weight, which competes with PostgreSQL's at full strength. As a
    # session of its own, an autogroup niced to the lowest, and SCHED_IDLE, it runs on what the
    # commands and the database leave.
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    os.setsid()
    with suppress(OSError):  # no autogrouping in this kernel, or not allowed: the rest still holds
        Path("/proc/self/autogroup").write_text(str(NICENESS))
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def supervise(database_url: str, stop: threading.Event) -> None:
    """Run ``oms webhooks work`` until ``stop``; start it again whenever it ends by itself."""
    # Its database sessions are named, so an operator tells them apart in pg_stat_activity.
    env = {"PGAPPNAME": APPLICATION_NAME, **os.environ, "OMS_DATABASE_URL": database_url}
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
