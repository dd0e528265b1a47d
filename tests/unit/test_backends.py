from __future__ import annotations

from pathlib import Path

import pytest

from adeline_infra import (
    services,
    settings,
)
from adeline_infra.errors import ConfigError


@pytest.mark.parametrize("name", ["a\nb", "nope", "../go2rtc"])
def test_an_unknown_with_service_is_refused_on_every_backend(name: str) -> None:
    with pytest.raises(ConfigError, match="unknown service") as caught:
        services.check_extras(frozenset({name}))
    assert "\n" not in str(caught.value)


GOOD = """\
# Adeline
mqtt:
  broker:
    host: 127.0.0.1
    port: 18830
  topics:
    control_commands: a/cmd
    control_status: a/status
    data: a/det
    metrics: a/metrics
  qos:
    control: 1
models:
  - yolo
"""


def load(tmp: Path, text: str | None = GOOD, env_file: str = "", **environ: str):  # type: ignore[no-untyped-def]
    if text is not None:
        (tmp / "config.yaml").write_text(text, encoding="utf-8")
    (tmp / "test.env").write_text(env_file, encoding="utf-8")
    base = {"ADELINE_ENV_FILE": str(tmp / "test.env"), "PIPELINE_CONFIG": "config.yaml"}
    flags = environ.pop("flags", None)
    return settings.load(tmp, flags, environ={**base, **environ})  # type: ignore[arg-type]


def test_external_is_chosen_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adeline_infra import backends
    from adeline_infra.backends import docker as docker_backend
    from adeline_infra.backends.external import ExternalBackend
    from adeline_infra.backends.native import NativeBackend

    s = load(tmp_path, None, BROKER_BACKEND="external")
    backend, reason = backends.resolve(s)
    assert isinstance(backend, ExternalBackend) and not backend.managed
    with pytest.raises(ConfigError, match="not run by this project"):
        backend.stop()
    with pytest.raises(ConfigError, match="not run by this project"):
        backend.clean()
    monkeypatch.setattr(NativeBackend, "state", lambda self: backend.state().__class__("n", False))
    monkeypatch.setattr(docker_backend, "engine_answers", lambda: False)
    auto, _ = backends.resolve(load(tmp_path, None, BROKER_BACKEND="auto"))
    assert auto.name == "native"
