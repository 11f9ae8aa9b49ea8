"""The open command starts JupyterLab with the course's notebooks and extensions.

The server is started with the same command line as ``make lab``
(``course_lib.tools.lab.lab_command``), headless, on a free loopback port.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from lab_server import running_lab

from course_lib.tools.lab import NOTEBOOKS


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("jupyter-runtime")) as server:
        yield server


def test_lab_page_loads(lab_server):
    status, _ = lab_server.get("/lab")
    assert status == 200


def test_kernelspec_is_this_environment(lab_server):
    status, body = lab_server.get("/api/kernelspecs")
    assert status == 200
    specs = json.loads(body)
    assert "python3" in specs["kernelspecs"]
    argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
    assert Path(argv[0]).resolve().parent == Path(sys.executable).resolve().parent


def test_serves_course_notebooks(lab_server):
    status, body = lab_server.get("/api/contents")
    assert status == 200
    names = {item["name"] for item in json.loads(body)["content"]}
    expected = {path.name for path in NOTEBOOKS.glob("*.ipynb")}
    assert "00_welcome.ipynb" in names
    assert expected <= names


@pytest.mark.parametrize(
    "extension", ["@jupyter-widgets/jupyterlab-manager", "jupyter-matplotlib"]
)
def test_frontend_extension_loaded(lab_server, extension):
    _, body = lab_server.get("/lab")
    match = re.search(
        rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
        body,
        re.DOTALL,
    )
    assert match is not None
    config = json.loads(match.group(1))
    names = {item["name"] for item in config["federated_extensions"]}
    assert extension in names
