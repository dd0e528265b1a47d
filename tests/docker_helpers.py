"""Helpers for tests that run the Docker backend on a real engine.

Without an engine (or without the broker image) such tests skip and say why; with
ADELINE_REQUIRE_DOCKER=1 (CI, after .ci/start-docker.sh) they fail instead, so a CI run
can never pass by skipping them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from .helpers import base_env

# The broker image the Docker tests run (MOSQUITTO_IMAGE in their settings), chosen by the
# suite's own variable: e.g. a local eclipse-mosquitto:2.1 build.
IMAGE = os.environ.get("ADELINE_TEST_MOSQUITTO_IMAGE") or "eclipse-mosquitto:2.0"


def unavailable(reason: str) -> None:
    if os.environ.get("ADELINE_REQUIRE_DOCKER") == "1":
        pytest.fail(f"ADELINE_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


def engine_client() -> Any:
    """The SDK client of a live engine with the broker image and Compose, else skip (loudly)."""
    from adeline_infra.backends import docker as dk

    if not dk.engine_answers(timeout=2):
        unavailable("no Docker engine answers (start one: .ci/start-docker.sh or Docker Desktop)")
    try:
        dk.discover(os.environ.get("DOCKER_COMPOSE") or "auto")
    except Exception as exc:
        unavailable(f"no Docker Compose: {exc}")
    import docker

    # The tests' own view of the engine (cleanup, container details): the SDK, pointed where
    # the `docker` command points (DOCKER_HOST, else the active context).
    client = docker.from_env(use_context=True)
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        unavailable(f"the image {IMAGE} is missing (make it: .ci/build-mosquitto-image.sh)")
    return client


def docker_env(tmp: Path, **values: str) -> dict[str, str]:
    """`base_env` for the Docker backend, with a compose project of its own."""
    project = f"adeline-test-{secrets.token_hex(4)}"
    chosen = {"BROKER_BACKEND": "docker", "COMPOSE_PROJECT_NAME": project, "MOSQUITTO_IMAGE": IMAGE}
    return base_env(tmp, **{**chosen, **values})


def remove_project(client: Any, project: str) -> None:
    """Whatever a test left: containers, networks, volumes of its compose project."""
    label = {"label": f"com.docker.compose.project={project}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for network in client.networks.list(filters=label):
        network.remove()
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)
