"""The Docker backend: the broker in a container, started and stopped by Docker Compose.

`services.up` reads top-down through `bring_up`: write what the container is given
(`broker_setup`), run `compose up -d --no-recreate` (`compose`) while one engine call looks at
the container that was there (`engine`), then decide from what it saw; on failure say which
service and which image failed (and, for a busy port, which container publishes it). With
`--with` it goes through `start`, which looks first.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import broker_config, procs
from ...background import beside, preload
from ...errors import InfraError
from ..base import Backend, BrokerState
from . import broker_setup
from .compose import (
    COMPOSE_FILE,
    EXTRAS,
    SERVICE,
    WS_COMPOSE_FILE,
    Compose,
    compose_args,
    compose_env,
    discover,
    project_name,
    service_images,
)
from .engine import Container, Engine

if TYPE_CHECKING:
    from ...settings import Settings

_ANONYMOUS = re.compile(r"[0-9a-f]{64}")
_ALIVE_EVERY = 0.25  # seconds between engine calls while `services.up` polls for CONNACK


class DockerBackend(Backend):
    name = "docker"

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        super().__init__(settings)
        self.project = project_name(settings)
        self.compose_file = settings.root / COMPOSE_FILE
        self.dir: Path = settings.state_dir / "docker"
        self.conf = self.dir / "mosquitto.conf"
        self.override = self.dir / broker_setup.SECURE_OVERRIDE
        self.loopback6 = self.dir / broker_setup.LOOPBACK6_OVERRIDE
        self.engine = engine or Engine()
        self._compose: Compose | None = None
        self._restarts_at_start: int | None = None
        self._seen: tuple[float, Container | None] | None = None
        self._alive: tuple[float, bool] | None = None
        self._fingerprint = ""

    # --- services.up ------------------------------------------------------------------------

    def start(self, *, extras: frozenset[str] = frozenset()) -> None:
        broker_config.check_required_files(self.settings)  # `--with` names: services.up
        before = self._recent_container()
        running = before is not None and before.status == "running"
        self.recreated = False
        if before is not None and running and not extras:
            self._restarts_at_start = before.restarts
            return
        if not running:
            self._check_ports()
        env = self._write_broker_files()
        # While compose works (~1 s), load the MQTT client the readiness probe needs next.
        preload("paho.mqtt.client")
        result = self.compose("up", "-d", extras=extras, timeout=900, env=env)
        if result.returncode != 0:
            raise self._up_failed(result.stderr or result.stdout or "", extras, env)
        self._seen = self._alive = None
        if before is not None and running:
            after = self.container()
            self.recreated = after is None or after.id != before.id
            # A running container keeps its restart count; one compose (re)creates starts at 0.
            self._restarts_at_start = 0 if self.recreated else before.restarts
        else:
            self._restarts_at_start = 0

    def bring_up(self, *, extras: frozenset[str] = frozenset()) -> bool:
        """`compose up -d --no-recreate` without asking the engine first; True when it ran.

        Looking first (`container inspect`, then `ps` by label) cost ~100 ms before compose
        began. Here that one look (by the names Compose gives, `container inspect`) runs beside
        compose, which needs ~1 s anyway: `--no-recreate` leaves a running broker as it is, and
        what the look saw decides afterwards. Running with other settings: the mismatch error,
        as before (the container was not touched). A stopped container of other settings that
        compose has just started as it was: replaced by a plain `compose up -d`. The port check
        names what holds a port only when compose failed. With `--with` the old path runs
        (a running broker's go2rtc may need recreating).
        """
        if extras:
            return super().bring_up(extras=extras)
        broker_config.check_required_files(self.settings)
        env, want = self._write_broker_files(), self._fingerprint
        preload("paho.mqtt.client")
        looking = beside(self._named_container)
        result = self.compose("up", "-d", "--no-recreate", timeout=900, env=env)
        # An InfraError here (the engine does not answer) is said, not compose's wording of it.
        before = looking.result(timeout=120)
        running = before is not None and before.status == "running"
        self.recreated = False
        self._seen = self._alive = None
        if result.returncode != 0:
            if not running:
                self._check_ports()
            raise self._up_failed(result.stderr or result.stdout or "", extras, env)
        stale = before is not None and before.labels.get(broker_setup.FINGERPRINT_LABEL) != want
        if running and stale:
            mismatch = self.config_mismatch()
            if mismatch:
                raise InfraError(mismatch)
        if stale and not running:  # compose started a stopped container of older settings
            result = self.compose("up", "-d", timeout=900, env=env)
            if result.returncode != 0:
                raise self._up_failed(result.stderr or result.stdout or "", extras, env)
            before = None
        self._restarts_at_start = before.restarts if before is not None else 0
        return running

    def _named_container(self) -> Container | None:
        """The broker's container by the names Compose gives it (one engine call), or None."""
        mine = self._by_name()
        mine.sort(key=lambda c: c.status != "running")
        return mine[0] if mine else None

    def _by_name(self) -> list[Container]:
        """The broker's containers among the names Compose gives its first one (v2 `p-s-1`,
        v1 `p_s_1`), checked by their labels: one engine call (`container inspect`)."""
        named = self.engine.inspect([f"{self.project}-{SERVICE}-1", f"{self.project}_{SERVICE}_1"])
        want = {"com.docker.compose.project": self.project, "com.docker.compose.service": SERVICE}
        return [c for c in named if all(c.labels.get(k) == v for k, v in want.items())]

    def _check_ports(self) -> None:
        """The one port-busy line (`procs.port_busy_message`), naming the container that
        publishes the port when it is one of the engine's (the OS only shows docker-proxy)."""
        for listener in broker_config.listeners(self.settings):
            port = listener.port
            bind = None if listener.loopback_only else listener.addresses[0]
            busy = procs.port_busy_message(port, listener.variable, bind=bind)
            if busy:
                publisher = self._publisher(port)
                raise InfraError(f"{busy} ({publisher})" if publisher else busy)

    def _publisher(self, port: int) -> str | None:
        try:
            user = self.engine.publishing(port)
        except InfraError:  # only a nicer message; the port check itself already failed
            return None
        return f"container {user}" if user else None

    def _write_broker_files(self) -> dict[str, str]:
        """mosquitto.conf and the secure override on disk; the environment compose needs."""
        s = self.settings
        text = broker_setup.render_config(s)
        broker_setup.write_if_changed(self.conf, text)
        override = broker_setup.secure_override(s)
        if override is None:
            self.override.unlink(missing_ok=True)
        else:  # JSON is YAML: compose reads it as its own format.
            import json

            broker_setup.write_if_changed(self.override, json.dumps(override, indent=2) + "\n")
        loopback6 = broker_setup.loopback6_override(s)
        if loopback6 is None:
            self.loopback6.unlink(missing_ok=True)
        else:
            import json

            broker_setup.write_if_changed(self.loopback6, json.dumps(loopback6, indent=2) + "\n")
        self._fingerprint = broker_setup.fingerprint(s, text)
        return self._env(self._fingerprint)

    def _up_failed(self, output: str, extras: frozenset[str], env: Mapping[str, str]) -> InfraError:
        """Which service failed and why, in one line; the broker is left as the user asked.

        `up -d` pulls every image before it creates anything: an unpullable go2rtc image means
        the broker was not started either, so it is started alone before the error is raised.
        """
        windows = self.engine.linux_containers_problem()
        if windows is not None:
            return windows
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower() or "denied" in ln.lower()]
        detail = (errors or lines or ["no output"])[-1][:200]
        images = service_images(self.settings, extras, env)
        failed, why = None, detail
        for service, image in images.items():
            with contextlib.suppress(InfraError):
                if not self.engine.image_present(image):
                    failed = service
                    why = f"its image {image} is not on this machine and could not be pulled"
                    why += f" ({detail})"
                    break
        if failed is None:
            named = [s for s in images if re.search(rf"[-_]{s}[-_]\d|\b{s}\b", output)]
            failed = named[-1] if named else None
        broker = ""
        if failed is not None and failed != SERVICE:
            self._seen = None
            container = self.container()
            if container is None or container.status != "running":
                alone = self.compose("up", "-d", SERVICE, timeout=900, env=env)
                if alone.returncode == 0:
                    self._seen = None
                    broker = "; the MQTT broker was started without it"
            else:
                broker = "; the MQTT broker runs"
        if failed is None:
            return InfraError(f"docker compose could not start {' and '.join(images)}: {why}")
        image = images[failed]
        var = "MOSQUITTO_IMAGE" if failed == SERVICE else f"{failed.upper()}_IMAGE"
        what = failed if why is not detail else f"{failed} (image {image})"
        return InfraError(
            f"{what} did not start: {why}{broker}",
            hint=f"check the network, or set {var} to an image you have",
        )

    # --- what the engine says ---------------------------------------------------------------

    def container(self) -> Container | None:
        """This checkout's broker container (a running one first: a recreate can leave two)."""
        found = self._containers()
        found.sort(key=lambda c: c.status != "running")
        container = found[0] if found else None
        self._seen = (time.monotonic(), container)
        return container

    def _containers(self, service: str | None = SERVICE) -> list[Container]:
        labels = [f"com.docker.compose.project={self.project}"]
        if service:
            labels.append(f"com.docker.compose.service={service}")
            # One engine call instead of two (list, then inspect) in the usual case; anything
            # else (renamed, scaled, none) is listed by label.
            mine = self._by_name()
            if mine:
                return mine
        return self.engine.containers(labels)

    def _recent_container(self) -> Container | None:
        """The container as seen in the last second (`services.up` has just asked), else now."""
        if self._seen is not None and time.monotonic() - self._seen[0] < 1.0:
            return self._seen[1]
        return self.container()

    def state(self) -> BrokerState:
        container = self.container()
        detail: dict[str, Any] = {"project": self.project}
        if container is None:
            detail["container"] = None
            return BrokerState(self.name, False, detail=detail)
        detail.update(
            container=container.name,
            id=container.short_id,
            image=container.image,
            container_state=container.status,
            health=container.health,
            restarts=container.restarts,
        )
        running = container.status == "running"
        return BrokerState(
            self.name,
            running,
            started_at=container.started_at if running else None,
            detail=detail,
        )

    def alive(self) -> bool:
        """Polled between CONNACK attempts: asks the engine at most every 0.25 s."""
        now = time.monotonic()
        if self._alive is not None and now - self._alive[0] < _ALIVE_EVERY:
            return self._alive[1]
        container = self.container()
        answer = container is not None and container.status in ("running", "created")
        if answer and self._restarts_at_start is not None and container is not None:
            answer = container.restarts <= self._restarts_at_start
        self._alive = (now, answer)
        return answer

    def config_mismatch(self) -> str | None:
        container = self._recent_container()
        if container is None or container.status != "running":
            return None
        s = self.settings
        want = broker_setup.fingerprint(s, broker_setup.render_config(s))
        if container.labels.get(broker_setup.FINGERPRINT_LABEL) != want:
            return (
                f"the running Docker broker (container {container.name}) was started with other "
                "settings, password file or certificates: run `inv services.restart` to apply them"
            )
        return None

    def running_surface(self) -> broker_config.RunningSurface | None:
        """The running container's own mosquitto.conf (read inside it: the host's copy may be
        newer) and the host sockets the engine publishes for it."""
        container = self._recent_container()
        if container is None or container.status != "running":
            return None
        inside = str(broker_setup.CONTAINER_CONFIG)
        result = self.engine.run("exec", container.id, "cat", inside, check=False)
        if result.returncode != 0:
            return None
        sockets = []
        ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for bindings in ports.values():
            for b in bindings or ():
                if str(b.get("HostPort", "")).isdigit():
                    sockets.append((b.get("HostIp") or "0.0.0.0", int(b["HostPort"])))
        s = self.settings
        try:
            wanted: str | None = broker_setup.render_config(s)
        except InfraError:
            wanted = None
        where = f"{inside} in container {container.name}"
        published = broker_config.published_sockets(s)
        return broker_config.running_surface(where, result.stdout, sockets, wanted, published)

    # --- compose ----------------------------------------------------------------------------

    def compose_command(self) -> Compose:
        if self._compose is None:
            self._compose = discover(self.settings.docker_compose, cache_dir=self.dir)
            if self._compose.note:
                from ... import console

                console.err(f"note: {self._compose.note}")
        return self._compose

    def compose(
        self,
        *action: str,
        extras: frozenset[str] = frozenset(),
        timeout: float = 120,
        env: Mapping[str, str] | None = None,
    ) -> Any:
        ws = [self.settings.root / WS_COMPOSE_FILE] if self.settings.ws_port else []
        overrides = ws + [f for f in (self.override, self.loopback6) if f.is_file()]
        args = compose_args(
            self.compose_command().argv,
            self.compose_file,
            self.project,
            extras,
            *action,
            overrides=overrides,
        )
        return procs.run(
            args, env=env or self._env(), check=False, timeout=timeout, cwd=self.compose_file.parent
        )

    def _env(self, config_sha: str = "") -> dict[str, str]:
        by_hand = self.compose_file.parent / "mosquitto.conf"
        return compose_env(
            self.settings,
            config_path=self.conf if self.conf.is_file() else by_hand,
            config_sha=config_sha,
            base=os.environ,
        )

    # --- services.down / clean ----------------------------------------------------------------

    def stop(self) -> bool:
        """Stop the broker and remove its containers; the named volumes (its data) stay.

        The broker is stopped on its own first (`compose stop`, mosquitto saves on SIGTERM), so
        the stopped container can still tell how it ended: killed after the grace period, or a
        save its log reports as failed, is an InfraError (exit 1) after the cleanup, never a
        "data kept".
        """
        containers = self._containers(service=None)
        if not containers:
            return False
        broker = next(
            (
                c
                for c in containers
                if c.labels.get("com.docker.compose.service") == SERVICE and c.status == "running"
            ),
            None,
        )
        problem = self._stop_broker(broker) if broker is not None else None
        # Anonymous volumes (an image's VOLUME not covered by a named one, e.g. go2rtc's /config)
        # would pile up at every down: they hold nothing worth keeping, unlike the named ones.
        anonymous = sorted({v for c in containers for v in c.volumes if _ANONYMOUS.fullmatch(v)})
        result = self.compose("down", "--remove-orphans", extras=frozenset(EXTRAS), timeout=120)
        if result.returncode != 0:
            raise InfraError(f"docker compose down failed: {procs.last_line(result.stderr or '')}")
        self.engine.remove_volumes(anonymous)
        if problem:
            raise InfraError(problem, hint="see `inv services.logs` before the next start")
        return broker is not None

    def _stop_broker(self, broker: Container) -> str | None:
        """`compose stop` the broker; what went wrong with its save, or None when it saved."""
        grace = max(1, round(self.settings.stop_timeout))
        since = time.time() - 1  # the engine's clock and ours may differ by a little
        result = self.compose("stop", "-t", str(grace), SERVICE, timeout=grace + 120)
        if result.returncode != 0:
            raise InfraError(f"docker compose stop failed: {procs.last_line(result.stderr or '')}")
        stopped = self.engine.inspect([broker.id])
        code = stopped[0].exit_code if stopped else None
        if code == 137:  # SIGKILL: the engine gave up waiting for the save
            return f"killed after {grace} s: changes since the last save are lost"
        failure = broker_config.save_failure(self.engine.logs_since(broker.id, since))
        if failure:
            return f"the broker's save at shutdown failed: {failure}"
        return None

    def clean(self) -> list[str]:
        label = f"com.docker.compose.project={self.project}"
        volumes = self.engine.volumes([label])
        if not volumes and not self._containers(service=None):
            return []
        result = self.compose(
            "down", "-v", "--remove-orphans", extras=frozenset(EXTRAS), timeout=120
        )
        if result.returncode != 0:
            raise InfraError(
                f"docker compose down -v failed: {procs.last_line(result.stderr or '')}"
            )
        self.engine.remove_volumes(self.engine.volumes([label]))
        return [f"volume {v}" for v in volumes]

    # --- logs -------------------------------------------------------------------------------

    def log_tail(self, lines: int) -> list[str]:
        container = self.container()
        if container is None or lines <= 0:
            return []
        return self.engine.log_tail(container.id, lines)

    def follow_logs(self, tail: int) -> Iterator[str]:
        """The container's log as it grows, across restarts, until the caller stops (Ctrl+C)."""
        first = True
        since: float | None = None
        while True:
            container = self.container()
            if container is None or container.status not in ("running", "restarting"):
                if first:
                    yield from self.log_tail(tail)
                    first = False
                    since = time.time()
                time.sleep(0.5)  # wait for the broker to be started again
                continue
            yield from self.engine.follow_logs(
                container.id, tail=tail if first else None, since=None if first else int(since or 0)
            )
            first = False
            since = time.time()
