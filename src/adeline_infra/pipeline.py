"""pipeline.run: start Adeline's pipeline with the environment the Makefile gave it, portably.

The Makefile prefixed `python -m adeline` with a dozen `NAME_ENABLED=False` assignments, which
only a POSIX shell understands. Here they go into the child's environment directly.

The real `python -m adeline` takes no arguments. It reads the broker host, port and topics only
from `config/adeline/config.yaml` in its working directory, and MQTT_USERNAME / MQTT_PASSWORD
from its environment (after `load_dotenv()`, which never overrides the environment). So:
- the credentials of our settings go into its environment (never its argv);
- it runs in the folder whose config/adeline/config.yaml is PIPELINE_CONFIG;
- when our host, port or topics differ from that file's, it does not start (exit 2): it would
  talk to a broker or topics the tasks do not watch. The resolved values are also in its
  environment (MQTT_BROKER_HOST, MQTT_BROKER_PORT, TOPIC_*), for a pipeline that reads them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import pipeline_config, procs
from .errors import ConfigError, InfraError
from .text import quoted

if TYPE_CHECKING:
    from .settings import Settings

# Run in the pipeline's own interpreter, so it sees exactly what `python -m` would (cwd included).
_FIND_SPEC = (
    "import importlib.util, sys\n"
    "try:\n"
    "    found = importlib.util.find_spec(sys.argv[1]) is not None\n"
    "except (ImportError, ValueError):\n"
    "    found = False\n"
    "sys.exit(0 if found else 3)\n"
)


def environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: ours) plus NAME_ENABLED=False for every disabled model, and the resolved
    MQTT settings: credentials (removed when ours have none, so a stale one cannot win), host,
    port, TLS and topics. With TLS on and MQTT_LOCAL_PORT set, the host and port are that
    plaintext loopback listener's, since the pipeline's client has no TLS."""
    env = dict(os.environ if base is None else base)
    for name in settings.pipeline_disabled_models:
        env[f"{name}_ENABLED"] = "False"
    env.update(
        MQTT_BROKER_HOST=settings.mqtt_host,
        MQTT_BROKER_PORT=str(settings.mqtt_port),
        MQTT_USE_TLS="true" if settings.use_tls else "false",
        TOPIC_COMMANDS=settings.topic_commands,
        TOPIC_STATUS=settings.topic_status,
        TOPIC_DETECTIONS=settings.topic_detections,
        TOPIC_METRICS=settings.topic_metrics,
    )
    door = local_door(settings)
    if door is not None:  # its client has no TLS: the plaintext loopback listener
        env.update(MQTT_BROKER_HOST=door[0], MQTT_BROKER_PORT=str(door[1]), MQTT_USE_TLS="false")
    if settings.username and settings.password:
        env["MQTT_USERNAME"] = settings.username
        env["MQTT_PASSWORD"] = settings.password
    else:
        # load_dotenv() in the pipeline could still find them in its ./.env: an empty value
        # in the environment is what it keeps (dotenv never overrides the environment).
        env["MQTT_USERNAME"] = ""
        env["MQTT_PASSWORD"] = ""
    return env


def working_dir(settings: Settings) -> Path:
    """Where the pipeline runs: the folder it finds PIPELINE_CONFIG from (when that file exists
    and ends in config/adeline/config.yaml), else the project."""
    if settings.pipeline_config is None or not (settings.pipeline and settings.pipeline.exists):
        return settings.root
    return pipeline_config.pipeline_cwd(settings.pipeline_config, settings.root)


def check_agreement(settings: Settings) -> None:
    """ConfigError (exit 2) when the pipeline would use another broker or topics than ours."""
    found = disagreements(settings)
    if found:
        more = f" (and {len(found) - 1} more: `inv doctor`)" if len(found) > 1 else ""
        raise ConfigError(
            f"the pipeline reads its broker and topics only from its config: {found[0].line()}"
            f"{more}; set it in one place"
        )


def command(settings: Settings, args: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", settings.pipeline_module, *args]


def installed(settings: Settings) -> bool:
    """Whether `python -m PIPELINE_MODULE` would find the module (checked in a child Python)."""
    result = procs.run(
        [sys.executable, "-c", _FIND_SPEC, settings.pipeline_module],
        cwd=working_dir(settings),
        check=False,
        timeout=30,
    )
    return result.returncode == 0


def not_installed_error(settings: Settings) -> InfraError:
    return InfraError(
        f"the pipeline module {quoted(settings.pipeline_module)} is not installed in "
        f"{sys.executable}",
        hint=(
            "install Adeline into this environment (from its checkout: "
            f"`{sys.executable} -m pip install -e .`), or set PIPELINE_MODULE"
        ),
    )


def run(settings: Settings, args: Sequence[str] = ()) -> int:
    """Run the pipeline in the foreground; returns its exit code (130 after Ctrl+C)."""
    check_agreement(settings)
    if not installed(settings):
        raise not_installed_error(settings)
    code = procs.run_foreground(
        command(settings, args), env=environment(settings), cwd=working_dir(settings)
    )
    return procs.exit_code(code)


# --- where our settings and the pipeline's config disagree ------------------------------


def _same(var: str, a: str, b: str) -> bool:
    if var == "MQTT_BROKER_HOST":
        from .addresses import same_host

        return same_host(a, b)
    return a == b


@dataclass(frozen=True)
class Disagreement:
    """A value the tasks use that differs from the one the pipeline will use."""

    var: str
    tasks: str
    tasks_source: str
    pipeline: str
    pipeline_source: str

    def line(self) -> str:
        return (
            f"{self.var}: the tasks use {self.tasks!r} (from {self.tasks_source}) but the "
            f"pipeline uses {self.pipeline!r} (from {self.pipeline_source})"
        )


def disagreements(settings: Settings) -> list[Disagreement]:
    """Where the tasks' broker host, port or topics differ from what the pipeline reads.

    The pipeline reads these only from its config file; a key the file leaves out is taken to
    be the pipeline's default, which is ours. Nothing to compare without a file.
    """
    from .settings import BY_NAME

    config = settings.pipeline
    if config is None or not config.exists:
        return []
    shown = _shown(config.path, settings.root)
    door = local_door(settings)
    found = []
    for var in pipeline_config.VARIABLES:
        spec = BY_NAME[var]
        ours, ours_source = str(getattr(settings, spec.attr)), settings.sources.get(var, "?")
        if door is not None and var == "MQTT_BROKER_HOST":
            ours, ours_source = door[0], "MQTT_LOCAL_PORT: the pipeline has no TLS"
        elif door is not None and var == "MQTT_BROKER_PORT":
            ours, ours_source = str(door[1]), "MQTT_LOCAL_PORT: the pipeline has no TLS"
        if var in config.values:
            theirs, where = config.values[var].raw, config.source(var, shown)
        else:
            theirs, where = spec.default, f"its default: {shown} does not set it"
        if not _same(var, ours, theirs):
            found.append(Disagreement(var, ours, ours_source, theirs, where))
    return found


def local_door(settings: Settings) -> tuple[str, int] | None:
    """(host, port) the pipeline must use when the broker speaks TLS: its MQTT client has no
    TLS, so it needs the plaintext listener MQTT_LOCAL_PORT, which is on loopback only. None
    when TLS is off (the pipeline uses the main listener) or no such port is set."""
    if not settings.use_tls or not settings.local_port:
        return None
    return "localhost", settings.local_port


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
