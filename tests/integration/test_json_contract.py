"""The `--json` documents scripts read: their keys stay, whatever the code behind them becomes.

Keys may be added; a key pinned here may not disappear or be renamed. Run against a real
mosquitto with a stand-in pipeline, so every document is the one a user gets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from adeline_infra.settings import Settings

from ..helpers import inv_here
from .standin import StandInPipeline

pytestmark = pytest.mark.integration

PINNED = {
    ("services.status", "--json"): {
        "backend",
        "backend_reason",
        "running",
        "healthy",
        "endpoint",
        "websockets",
        "addresses",
        "version",
        "uptime_s",
        "local",
        "detail",
        "problem",
        "warning",
    },
    ("monitor.status", "--json"): {"broker", "pipeline"},
    ("control.status", "--wait", "--json"): {
        "command",
        "topic",
        "acknowledged",
        "acknowledged_after_s",
        "subscribers",
        "answer_topic",
        "status",
        "metrics",
    },
    ("control.pause", "--json"): {
        "command",
        "topic",
        "acknowledged",
        "acknowledged_after_s",
        "subscribers",
        "answer_topic",
        "status",
        "metrics",
    },
    ("auth.list-users", "--json"): {"file", "users"},
    ("doctor", "--json"): {"ok", "exit_code", "backend", "summary", "checks", "sources"},
    ("monitor.dashboard", "--json", "--duration", "0.5"): {
        "window_s",
        "span_s",
        "source",
        "status",
        "totals",
        "rates",
        "fps",
        "latency",
        "classes",
        "sources",
        "sources_count",
        "broker",
        "connected",
    },
    ("tls.check", "--json"): {"tls_dir", "host", "ok", "certificates", "problems", "listeners"},
}


@pytest.fixture
def pipeline(native_broker: Settings) -> Iterator[StandInPipeline]:
    with StandInPipeline(native_broker) as p:
        yield p


@pytest.mark.parametrize("argv", sorted(PINNED), ids=" ".join)
def test_json_keys_stay(
    argv: tuple[str, ...], env: dict[str, str], pipeline: StandInPipeline
) -> None:
    if argv[0] == "tls.check":
        assert inv_here("tls.certs", env=env).returncode == 0
    result = inv_here(*argv, env=env)
    document = json.loads(result.stdout)
    missing = PINNED[argv] - set(document)
    assert not missing, (argv, sorted(document))
