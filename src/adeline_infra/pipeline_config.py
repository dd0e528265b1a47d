"""The pipeline's own configuration file (`PIPELINE_CONFIG`, default `config/adeline/config.yaml`).

Adeline's pipeline reads its broker host, port and topics only from this YAML file (relative to
its working directory); its credentials come from `MQTT_USERNAME` / `MQTT_PASSWORD` in the
environment. `settings.load` uses the values found here as a source between the defaults and
`.env`, so the tasks talk to the broker and topics the pipeline uses unless told otherwise; and
`disagreements()` lists where they were told otherwise (doctor fails, `inv dev` says so).

The file is read with PyYAML's `safe_load` (no object construction). A malformed file or a value
of the wrong type is a `ConfigError` naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .text import control_character
from .text import shown as shown_value  # `shown` is what this module calls a path as shown

# The pipeline's keys (under `mqtt:`) -> our variables. The pipeline's schema, not ours.
KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("broker", "host"), "MQTT_BROKER_HOST"),
    (("broker", "port"), "MQTT_BROKER_PORT"),
    (("topics", "control_commands"), "TOPIC_COMMANDS"),
    (("topics", "control_status"), "TOPIC_STATUS"),
    (("topics", "data"), "TOPIC_DETECTIONS"),
    (("topics", "metrics"), "TOPIC_METRICS"),
)
VARIABLES = tuple(var for _, var in KEYS)
# Far above any real pipeline config (a few KiB); a bigger file is a mistake, not a config.
MAX_BYTES = 1024 * 1024
# The path, relative to its working directory, where the real pipeline reads its config.
PIPELINE_RELATIVE = Path("config", "adeline", "config.yaml")


@dataclass(frozen=True)
class Value:
    raw: str  # as a settings value (the variable's parser validates it)
    line: int | None  # 1-based line in the file


@dataclass(frozen=True)
class PipelineConfig:
    """What the pipeline's config says about MQTT. `exists` False: no file (nothing read)."""

    path: Path
    exists: bool
    values: Mapping[str, Value] = field(default_factory=dict)  # variable name -> value

    def source(self, var: str, shown_path: str) -> str:
        line = self.values[var].line
        return f"{shown_path} line {line}" if line else shown_path


def _safe_loader() -> Any:
    """PyYAML's safe loader, in C (libyaml) where the wheel has it: the same documents, read
    about ten times faster, which bounds what a hostile 1 MiB file costs every task."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _mark_line(exc: Any) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def _node_lines(text: str) -> tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], str]]:
    """Line of each `mqtt.*` key we read (for messages naming the line), and the text of each
    scalar value as written (`0100`, not the 64 YAML 1.1 makes of it)."""
    import yaml

    lines: dict[tuple[str, ...], int] = {}
    written: dict[tuple[str, ...], str] = {}
    try:
        root = yaml.compose(text, Loader=_safe_loader())
    except yaml.YAMLError:
        return lines, written

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, yaml.MappingNode) or len(path) > 3:
            return
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                if isinstance(value, yaml.ScalarNode):
                    written[sub] = str(value.value)
                walk(value, sub)

    walk(root, ())
    return lines, written


# Python's integer-string limit (sys.get_int_max_str_digits) where the interpreter has one.
_MAX_DIGITS = 4300


def _huge_number_line(text: str) -> int | None:
    """The line of the first plain scalar too long for int(): one composed, not constructed,
    walk (an alias is visited once, so an alias bomb costs what is written)."""
    import yaml

    try:
        root = yaml.compose(text, Loader=_safe_loader())
    except yaml.YAMLError:
        return None
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.tag.endswith(":int") and len(node.value) > _MAX_DIGITS:
                return int(node.start_mark.line) + 1
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(item for pair in reversed(node.value) for item in reversed(pair))
    return None


def read(path: Path, shown: str) -> PipelineConfig:
    """Read the file at `path` (`shown` is how messages name it). Absent -> exists=False."""
    try:
        if not path.exists():
            return PipelineConfig(path, False)
        if path.is_dir():
            raise ConfigError(f"PIPELINE_CONFIG={shown} is a folder: name the pipeline's YAML file")
        if not path.is_file():  # a FIFO or a device would block or never end
            raise ConfigError(
                f"PIPELINE_CONFIG={shown} is not a regular file: name the pipeline's YAML file"
            )
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(
                f"PIPELINE_CONFIG={shown} is {size} bytes: a pipeline config is a few KiB, "
                "check the path"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the pipeline's config {shown} ({exc.strerror or exc}): "
            "fix its permissions or PIPELINE_CONFIG"
        ) from None
    except ValueError as exc:  # e.g. a NUL in the path
        raise ConfigError(f"PIPELINE_CONFIG={shown!r} is not a usable path ({exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{shown} line {bad_line}: not UTF-8 text") from None
    import yaml

    try:
        doc = yaml.load(text, Loader=_safe_loader())  # a safe loader: no Python objects
    except yaml.YAMLError as exc:
        line = _mark_line(exc)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f"{shown} line {line}" if line else shown
        raise ConfigError(
            f"{where}: not valid YAML ({problem}): fix the pipeline's config"
        ) from None
    except RecursionError:
        raise ConfigError(f"{shown}: nested too deeply to be a pipeline config") from None
    except ValueError:  # a 5,000-digit number: beyond Python's integer-string limit
        line = _huge_number_line(text)
        where = f"{shown} line {line}" if line else shown
        raise ConfigError(
            f"{where}: a number of more than {_MAX_DIGITS} digits is no pipeline setting: "
            "fix the pipeline's config"
        ) from None
    return PipelineConfig(path, True, _values(doc, text, shown))


def _values(doc: Any, text: str, shown: str) -> dict[str, Value]:
    nodes: tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], str]] | None = None

    def line_of(path: tuple[str, ...]) -> int | None:
        nonlocal nodes
        if nodes is None:
            nodes = _node_lines(text)
        return nodes[0].get(path)

    def written(path: tuple[str, ...]) -> str | None:
        line_of(path)
        return nodes[1].get(path) if nodes else None

    def where(path: tuple[str, ...]) -> str:
        line = line_of(path)
        return f"{shown} line {line}" if line else shown

    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{shown} line 1: expected a YAML mapping (`mqtt:` and others)")
    mqtt = doc.get("mqtt")
    if mqtt is None:
        return {}
    if not isinstance(mqtt, dict):
        raise ConfigError(f"{where(('mqtt',))}: `mqtt` must be a mapping (broker:, topics:)")
    values: dict[str, Value] = {}
    for (section, key), var in KEYS:
        block = mqtt.get(section)
        if block is None:
            continue
        if not isinstance(block, dict):
            raise ConfigError(f"{where(('mqtt', section))}: `mqtt.{section}` must be a mapping")
        if key not in block or block[key] is None:
            continue
        value = block[key]
        path = ("mqtt", section, key)
        as_written = written(path)
        if key == "port":
            # YAML 1.1 (PyYAML) reads 0100 as octal 64 and 8:50:03 as 31803: only a plain
            # decimal is taken, as YAML 1.2 and the pipeline's reader would agree on it.
            ok = (
                isinstance(value, int)
                and not isinstance(value, bool)
                and as_written is not None
                and as_written.isascii()
                and as_written.isdigit()
                and len(as_written) <= 5
                and not (len(as_written) > 1 and as_written.startswith("0"))
            )
            expected = "a port number written in decimal (1 to 65535, e.g. 1883)"
        else:
            ok = isinstance(value, str)
            expected = "a string (quote it)"
        if not ok:
            shown_as = repr(as_written[:60]) if as_written is not None else shown_value(value)
            raise ConfigError(
                f"{where(path)}: `mqtt.{section}.{key}` is {shown_as}, expected {expected}"
            )
        if isinstance(value, str) and control_character(value) is not None:
            raise ConfigError(
                f"{where(path)}: `mqtt.{section}.{key}` contains a control character "
                f"({shown_value(value)}): remove it"
            )
        values[var] = Value(str(value), line_of(path))
    return values


def pipeline_cwd(config: Path, fallback: Path) -> Path:
    """The working directory in which the pipeline reads `config` (it reads
    `config/adeline/config.yaml` relative to its working directory): fallback when none does."""
    parts = config.parts
    tail = PIPELINE_RELATIVE.parts
    if len(parts) > len(tail) and parts[-len(tail) :] == tail:
        return config.parents[len(tail) - 1]
    return fallback
