"""The open command starts JupyterLab with the course's notebooks and extensions.

The server is started with the same command line as ``make lab``
(``course_lib.tools.lab.lab_command``), headless, on a free loopback port.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from course_lib.tools.lab import NOTEBOOKS, lab_command

TOKEN = "course-test-token"
STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    port = free_port()
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    log_path = runtime / "server.log"
    command = lab_command(
        [
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
    )
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=environment
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            get(f"{base}/api/status")
            break
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()}")
            time.sleep(0.5)
    yield base
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def test_lab_page_loads(lab_server):
    status, _ = get(f"{lab_server}/lab")
    assert status == 200


def test_kernelspec_is_this_environment(lab_server):
    status, body = get(f"{lab_server}/api/kernelspecs")
    assert status == 200
    specs = json.loads(body)
    assert "python3" in specs["kernelspecs"]
    argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
    assert Path(argv[0]).resolve().parent == Path(sys.executable).resolve().parent


def test_serves_course_notebooks(lab_server):
    status, body = get(f"{lab_server}/api/contents")
    assert status == 200
    names = {item["name"] for item in json.loads(body)["content"]}
    expected = {path.name for path in NOTEBOOKS.glob("*.ipynb")}
    assert "00_welcome.ipynb" in names
    assert expected <= names


@pytest.mark.parametrize(
    "extension", ["@jupyter-widgets/jupyterlab-manager", "jupyter-matplotlib"]
)
def test_frontend_extension_loaded(lab_server, extension):
    _, body = get(f"{lab_server}/lab")
    match = re.search(
        rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
        body,
        re.DOTALL,
    )
    assert match is not None
    config = json.loads(match.group(1))
    names = {item["name"] for item in config["federated_extensions"]}
    assert extension in names
