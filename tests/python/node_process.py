"""A real dragon_node process for the Python client's tests.

Like tests/helpers/node_process.h: a small config in a temp dir (ports 0,
RAM-Lake under /dev/shm), waits until the node logs its gRPC endpoint, stops it
with SIGTERM (by the pid it started) and removes its directories, the one in
/dev/shm included, whatever happened.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

_GRPC_LINE = re.compile(r"serving the gRPC API postdevai\.memory\.v1 at ([0-9.]+):([0-9]+)")


def dragon_node_binary() -> str:
    """The dragon_node under test: $POSTDEVAI_DRAGON_NODE, else build/bin/dragon_node."""
    path = os.environ.get("POSTDEVAI_DRAGON_NODE")
    if not path:
        path = str(Path(__file__).resolve().parents[2] / "build" / "bin" / "dragon_node")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no dragon_node at {path}: set POSTDEVAI_DRAGON_NODE (or pass --node PATH)")
    return path


class NodeFailed(RuntimeError):
    """The node exited at start-up or did not report its endpoint; the message holds its log."""

    def __init__(self, message: str, log: str, returncode: Optional[int]) -> None:
        super().__init__(f"{message}\n--- node log ---\n{log}")
        self.log = log
        self.returncode = returncode


class NodeProcess:
    """One dragon_node; ``node_section`` goes into [node], ``extra_toml`` at the end."""

    def __init__(self, node_section: str = "", extra_toml: str = "", name: str = "node") -> None:
        self.binary = dragon_node_binary()
        self.disk = Path(tempfile.mkdtemp(prefix=f"postdevai-py-{name}-"))
        self.ram = Path(tempfile.mkdtemp(prefix=f"postdevai-py-{name}-", dir="/dev/shm"))
        self.config_path = self.disk / "dragon_node.toml"
        self.log_path = self.disk / "node.log"
        self.config_path.write_text(
            "[hybrid_memory]\n"
            "ramlake_size_gb = 0.0625\n"
            f"ramlake_path = \"{self.ram}/ramlake\"\n"
            "persistent_size_tb = 0.001\n"
            f"persistent_path = \"{self.disk}/data\"\n"
            "cache_size_mb = 8\n"
            "max_ram_entries = 100000\n"
            f"[node]\nport = 0\n{node_section}\n"
            "[metrics]\nport = 0\n"
            f"{extra_toml}\n")
        self.process: Optional[subprocess.Popen] = None
        self.port = 0
        atexit.register(self.cleanup)  # also when a test forgets, or the runner is interrupted

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = 30.0) -> "NodeProcess":
        """Starts the node and waits for its gRPC endpoint; NodeFailed if it exits or stays silent."""
        offset = len(self.log())
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([self.binary, "--config", str(self.config_path)],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()[offset:]
            match = _GRPC_LINE.search(text)
            if match:
                self.port = int(match.group(2))
                return self
            returncode = self.process.poll()
            if returncode is not None:
                self.process = None
                raise NodeFailed(f"dragon_node exited at start-up with status {returncode}", text, returncode)
            time.sleep(0.02)
        self.stop()
        raise NodeFailed(f"dragon_node did not report its gRPC endpoint within {timeout} s", self.log(), None)

    def stop(self, timeout: float = 60.0) -> Optional[int]:
        """SIGTERM to the pid this object started, then wait (SIGKILL if it hangs); its exit status."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise RuntimeError(f"dragon_node (pid {process.pid}) ignored SIGTERM for {timeout} s:\n{self.log()}")
        return process.returncode

    def cleanup(self) -> None:
        """Stops the node and removes its directories (the /dev/shm one included)."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.ram, ignore_errors=True)
            shutil.rmtree(self.disk, ignore_errors=True)

    def __enter__(self) -> "NodeProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        self.cleanup()
