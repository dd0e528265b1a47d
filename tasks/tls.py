"""tls.*: the CA and the server and client certificates in MQTT_TLS_DIR (`adeline_infra.certs`)."""

from __future__ import annotations

from invoke import Collection, Context, Exit

from ._boundary import load_settings, task

KEY_TYPE_HELP = "type of NEW keys: ec (P-256, default) or rsa (2048); existing keys are kept"


@task(
    help={
        "hosts": "comma-separated names/IPs the server certificate is valid for "
        "(default: localhost,127.0.0.1,::1,mosquitto and MQTT_BROKER_HOST)",
        "key_type": KEY_TYPE_HELP,
        "days": "validity of the server certificate in days (default 825)",
        "force": "replace the CA and the server key (every client must get the new ca.crt)",
    }
)
def certs(
    c: Context,
    hosts: str | None = None,
    key_type: str | None = None,
    days: int = 825,
    force: bool = False,
) -> None:
    """Create the CA (or keep it) and (re)issue the server certificate in MQTT_TLS_DIR."""
    from adeline_infra import certs, console, views

    s = load_settings()
    host_list = certs.parse_hosts(hosts or [*certs.DEFAULT_HOSTS, s.mqtt_host])
    report = certs.make_tls_dir(
        s.tls_dir, hosts=host_list, key_type=key_type, days=days, force=force
    )
    views.written(report)
    if not certs.host_matches(host_list, s.mqtt_host):
        console.err(f"warning: MQTT_BROKER_HOST={s.mqtt_host} is not among the hosts")
    if not s.use_tls:
        console.out("the broker uses them with MQTT_USE_TLS=true in .env")


@task(
    help={
        "name": "the client's name: NAME.crt/NAME.key, CN=NAME",
        "key_type": KEY_TYPE_HELP,
        "days": "validity in days (default 825)",
        "force": "replace NAME.key (the CA is never replaced from here)",
    }
)
def client(
    c: Context, name: str, key_type: str | None = None, days: int = 825, force: bool = False
) -> None:
    """Issue a client certificate NAME.crt/NAME.key from the CA in MQTT_TLS_DIR."""
    from adeline_infra import certs, views

    s = load_settings()
    views.written(certs.add_client(s.tls_dir, name, key_type=key_type, days=days, force=force))


@task(
    help={
        "json": "print JSON instead of text",
        "days": "warn (exit 1) when a certificate expires within this many days (default 30)",
    }
)
def check(c: Context, json: bool = False, days: int = 30) -> None:
    """Show the certificates (subject, SANs, expiry); exit 1 if expiring or not for the host."""
    from adeline_infra import broker_config, certs, cli, console, views

    cli.count("days", days, maximum=36500)
    s = load_settings()
    result = certs.check(s.tls_dir, s.mqtt_host, client_name=s.tls_client_name, warn_days=days)
    tls_listeners = broker_config.tls_listeners(s)
    if tls_listeners:
        result.problems.extend(broker_config.tls_listener_problems(s))
    remote, warning = certs.remote_clients_for(s, result)
    if json:
        console.print_json(
            {
                "tls_dir": str(s.tls_dir),
                "host": s.mqtt_host,
                "ok": result.ok,
                "certificates": [i.as_dict() for i in result.certificates],
                "problems": result.problems,
                "listeners": [x.describe() for x in tls_listeners],
                "remote_names": remote,
                "warning": warning,
            }
        )
    else:
        views.tls_check(s, result, tls_listeners)
        if remote:
            console.out(f"clients from other machines connect with: {', '.join(remote)}")
    if warning:
        console.err(f"warning: {warning}")
    if not result.ok:
        raise Exit(code=1)


ns = Collection("tls", certs, client, check)
