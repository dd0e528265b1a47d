"""doctor: check the whole setup and say what to fix (`adeline_infra.doctor`)."""

from __future__ import annotations

from invoke import Context, Exit

from ._boundary import BACKEND_HELP, ROOT, task


@task(help={"json": "print JSON instead of a table", "backend": BACKEND_HELP})
def doctor(c: Context, json: bool = False, backend: str | None = None) -> None:
    """Check Python, .env, Docker/mosquitto, ports, broker, certificates. Exit 1 on a failure."""
    from adeline_infra import console, doctor, views

    with console.spinner("Checking the setup ..."):
        report = doctor.run(ROOT, {"BROKER_BACKEND": backend})
    if json:
        console.print_json(report.as_dict())
    else:
        views.doctor_report(report)
    if report.exit_code:
        raise Exit(f"error: doctor found {report.summary()}", code=report.exit_code)
