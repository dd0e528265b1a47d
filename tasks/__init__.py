"""Adeline's infrastructure tasks: `inv --list` shows them, `inv --help TASK` explains one.

One module per collection, each a thin layer over the library module of the same name in
src/adeline_infra: services, monitor, control, auth, tls, pipeline, dev and doctor. They are
put together here, in `ns`, which is what `inv` loads. What every task shares (the error
boundary, the settings, common help) is in `_boundary`; the two changes made to invoke (usage
errors exit 2, bytecode cached) are in `_program`, which says why.

The package stays cheap to import, because every `inv` call pays for it: the library (and
paho, rich, docker, cryptography through it) is imported inside the task bodies. Expected
failures end in one line and an exit code: 0 ok, 1 failed, 2 bad configuration or usage,
3 `services.status` found the broker stopped, 130 Ctrl+C.
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import Collection

_SRC = str(Path(__file__).resolve().parent.parent / "src")
if _SRC not in sys.path:  # the checkout's code, even before `pip install -e .`
    sys.path.insert(0, _SRC)

from . import _program  # noqa: E402

_program.write_bytecode()  # before the rest is imported: see _program

from . import (  # noqa: E402
    auth,
    control,
    dev,
    doctor,
    monitor,
    pipeline,
    services,
    tls,
)

_program.apply()

ns = Collection(
    services.ns, monitor.ns, control.ns, pipeline.ns, auth.ns, tls.ns, dev.dev, doctor.doctor
)
