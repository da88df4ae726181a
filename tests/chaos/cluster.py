"""Real `carewatch listen`, `respond` and `webhooks` processes on one database, started,
killed with -9 and restarted by a test, each with the sandbox port of its own.

Every start takes a fresh sandbox port (`SandboxServer(extra_ports=...)`), so the sandbox's
request log says which process made each request without the product having to say so.
Each process logs JSON lines at INFO to a file of its own; the test reads the listeners'
`poll_started` / `poll_ended` lines from them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from tests.listener.helpers import CLI

#: The line each role prints once it has started working.
READY = {"listen": "listening to ", "respond": "responding to queued",
         "webhooks": "receiving Meta webhooks"}


@dataclass
class Spawn:
    """One process: its role and slot, the sandbox port it talks to, its log, and when it
    died (the test's clock, taken once the process is gone)."""

    role: str
    slot: int
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes]
    log_file: IO[str]
    died: float | None = None
    killed: bool = False
    started: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return f"{self.role}{self.slot}[pid {self.proc.pid}, port {self.port}]"

    @property
    def alive(self) -> bool:
        return self.died is None

    def ready(self) -> bool:
        """Whether it has started working (imports done, database and ports open)."""
        self.log_file.flush()
        return READY[self.role] in self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self) -> Iterator[dict[str, Any]]:
        """The structured log lines it wrote (JSON), with `ts` as epoch seconds."""
        self.log_file.flush()
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut short by kill -9
            stamp = event.get("timestamp")
            if isinstance(stamp, str):
                event["ts"] = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                yield event


@dataclass
class Cluster:
    """The processes of one test; `base_urls` are the sandbox's spare ports, one per start."""

    env: dict[str, str]
    base_urls: list[str]
    workdir: Path
    webhook_port: int
    spawns: list[Spawn] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, role: str, slot: int, *args: str) -> Spawn:
        """Start `carewatch ROLE [ARGS]` on the next spare sandbox port."""
        with self.lock:
            if not self.base_urls:
                raise RuntimeError("no sandbox port left for another process")
            base = self.base_urls.pop(0)
            port = int(base.rsplit(":", 1)[1])
            argv = {"listen": ["listen"], "respond": ["respond"],
                    "webhooks": ["webhooks", "--port", str(self.webhook_port)]}[role] + list(args)
            log_path = self.workdir / f"{role}{slot}-{len(self.spawns)}.log"
            log_file = log_path.open("w", encoding="utf-8")
            env = {**self.env, "CAREWATCH_X_API_URL": base, "CAREWATCH_GRAPH_API_URL": base}
            proc = subprocess.Popen([*CLI, *argv], env=env, stdin=subprocess.DEVNULL,
                                    stdout=log_file, stderr=subprocess.STDOUT)
            spawn = Spawn(role, slot, port, log_path, proc, log_file)
            self.spawns.append(spawn)
            return spawn

    def live(self, role: str | None = None) -> list[Spawn]:
        with self.lock:
            return [s for s in self.spawns if s.alive and role in (None, s.role)]

    def kill9(self, spawn: Spawn) -> None:
        """SIGKILL, then wait until the process is gone; its death time is taken after."""
        os.kill(spawn.proc.pid, signal.SIGKILL)
        spawn.proc.wait(timeout=30)
        spawn.died, spawn.killed = time.time(), True
        spawn.log_file.flush()

    def restart(self, spawn: Spawn) -> Spawn:
        self.kill9(spawn)
        return self.start(spawn.role, spawn.slot)

    def stop_all(self, grace: float = 30.0) -> None:
        """SIGTERM to every live process (they finish the step in hand), kill -9 after
        `grace` seconds."""
        live = self.live()
        for spawn in live:
            spawn.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for spawn in live:
            try:
                spawn.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                spawn.died = time.time()
            except subprocess.TimeoutExpired:
                self.kill9(spawn)
            spawn.log_file.flush()

    def by_port(self) -> dict[int, Spawn]:
        return {s.port: s for s in self.spawns}

    def close(self) -> None:
        for spawn in self.spawns:
            if spawn.proc.poll() is None:
                spawn.proc.kill()
                spawn.proc.wait(timeout=30)
            spawn.log_file.close()
