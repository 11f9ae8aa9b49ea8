"""Start a real JupyterLab server for tests, headless, on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from course_lib.tools.execute import prefer_this_environment
from course_lib.tools.lab import NOTEBOOKS, lab_command

TOKEN = "course-test-token"
STARTUP_SECONDS = 90


@dataclass(frozen=True)
class LabServer:
    base_url: str
    root_dir: Path

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def request(self, method: str, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            headers={"Authorization": f"token {TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()

    def shutdown_kernels(self) -> None:
        """Shut down every kernel the server runs, so tests do not pile them up."""
        _, body = self.get("/api/kernels")
        for kernel in json.loads(body):
            self.request("DELETE", f"/api/kernels/{kernel['id']}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# User settings for the test server, kept apart from the learner's own:
# render every cell (JupyterLab 4 otherwise leaves cells outside the viewport
# out of the page) and do not ask about news.
TEST_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none"
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false"
    },
}


def write_test_settings(settings_dir: Path) -> None:
    for relative, values in TEST_SETTINGS.items():
        path = settings_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@contextlib.contextmanager
def running_lab(runtime_dir: Path, root_dir: Path = NOTEBOOKS) -> Iterator[LabServer]:
    """Run ``make lab``'s command line headless until the block ends."""
    port = free_port()
    settings_dir = runtime_dir / "user-settings"
    write_test_settings(settings_dir)
    log_path = runtime_dir / "server.log"
    command = lab_command(
        [
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={settings_dir}",
            f"--LabApp.workspaces_dir={runtime_dir / 'workspaces'}",
        ],
        root_dir=root_dir,
    )
    prefer_this_environment()
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir)}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=environment
        )
    server = LabServer(f"http://127.0.0.1:{port}", root_dir)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                server.get("/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"JupyterLab did not start:\n{log_path.read_text()}"
                    ) from None
                time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
