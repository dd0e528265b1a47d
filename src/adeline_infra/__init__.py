"""adeline_infra: the library behind Adeline's infrastructure tasks.

Nothing here imports invoke. The task layer (`tasks/`) and `scripts/` are thin layers over these
modules, one concern each:

- `addresses`        what "loopback" is: one definition for every module
- `settings`         the one loader: defaults < pipeline config < `.env` < environment < flags
- `pipeline_config`  the pipeline's config.yaml: its MQTT values (a leaf)
- `errors`           the exceptions that end a task with one line and an exit code
- `cli`              one-line usage errors for scripts; option checks (seconds, counts)
- `console`          terminal output: lines, spinner, tables, JSON; safe streams
- `text`             what may not pass through as it is: control, line-break, bidi characters
- `mqtt`             the MQTT client factory, the readiness probe, retained reads
- `procs`            the one place that spawns, stops and inspects processes
- `files`            atomic owner-only writes, folder checks, log tails
- `locks`            the state-folder and password-file locks
- `background`       work (an engine call, an import) in a thread while the task waits
- `broker_config`    mosquitto.conf rendered from the settings; its listeners; save failures
- `backends`         how the broker runs: `native`, `docker` (Compose), `external`
- `services`         up / down / restart / status / logs / clean over the chosen backend
- `monitor`          `$SYS`, the pipeline's status, the detections tail
- `dashboard`        `monitor.dashboard`: figures over a window, the terminal screen, the page
- `payloads`         JSON others published, read within bounds (size, depth)
- `commands`         the pipeline's commands: where each is answered, what it does
- `control`          sending a command, acknowledged, and waiting for its answer
- `pipeline`         running the pipeline; where our settings and its config disagree
- `passwd`           mosquitto password files
- `certs`            the private CA, server and client certificates, checks
- `go2rtc`           go2rtc's API: version, streams
- `doctor`           the troubleshooting checklist as checks
- `devenv`           `.env` from `.env.example`, how to connect
- `views`            the one output layer: each result drawn as the tasks show it
"""

__version__ = "0.1.0"
