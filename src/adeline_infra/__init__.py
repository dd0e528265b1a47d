"""adeline_infra: the library behind Adeline's infrastructure tasks.

Nothing here imports invoke. `tasks.py` and `scripts/` are thin layers over these modules:

- `settings`   one loader for `.env` + environment + task flags, validated once
- `errors`     the exceptions that end a task with one line and an exit code
- `mqtt`       the MQTT client factory and the readiness probe (CONNECT answered by CONNACK)
- `procs`      the one place that spawns processes
- `backends`   how the broker runs: `native` (a mosquitto binary) or `docker` (Compose)
- `services`   up / down / status / logs / clean over whichever backend is chosen
- `console`    terminal output: lines, spinner, tables, JSON
"""

__version__ = "0.1.0"
