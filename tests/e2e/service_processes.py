"""Run the real service entry points as child processes, so tests can SIGKILL and restart them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ENTRY_POINTS = {
    "intake": "services.intake.main",
    "dispatch": "services.dispatch.main",
    "notify": "services.notify.main",
    "console": "services.console.main",
}
PORT_VARIABLES = {
    "intake": "INTAKE_PORT",
    "dispatch": "DISPATCH_PORT",
    "notify": "NOTIFY_PORT",
    "console": "CONSOLE_PORT",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, **self.env, PORT_VARIABLES[self.name]: str(self.port)}
        log = (self.log_dir / f"{self.name}-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", ENTRY_POINTS[self.name]], env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready within {timeout}s; see {log.name}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def pause(self) -> None:
        """SIGSTOP: the process is frozen mid-whatever, as in a long GC pause or a stalled VM."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False
