from __future__ import annotations

from pathlib import Path

import pytest

from adeline_infra import settings

from .test_broker_config import make


def test_dev_prints_the_websockets_scheme_truthfully(tmp_path: Path) -> None:
    from adeline_infra import devenv

    def text(**environ: str) -> str:
        return "\n".join(devenv.connection_help(make(tmp_path, **environ)))

    assert "ws://localhost:9001" in text()
    secure = text(MQTT_USE_TLS="true", MQTT_LOCAL_PORT="1884")
    assert "wss://localhost:9001" in secure and "ws://" not in secure.replace("wss://", "")
    assert "mqtt://127.0.0.1:1884" in secure
    assert "off (MQTT_WS_PORT=0)" in text(MQTT_WS_PORT="0")


def test_the_printed_mosquitto_sub_works_in_cmd_powershell_and_sh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adeline_infra import devenv

    monkeypatch.setattr(devenv.shutil, "which", lambda name: f"/bin/{name}")
    s = settings.load(tmp_path, environ={"ADELINE_ENV_FILE": str(tmp_path / ".env")})
    (line,) = [x for x in devenv.connection_help(s) if "mosquitto_sub" in x]
    assert '-t "#"' in line and "'" not in line  # cmd.exe would pass '#' with its quotes
