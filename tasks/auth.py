"""auth.*: the broker's password file, MOSQUITTO_PASSWD_FILE (`adeline_infra.passwd`)."""

from __future__ import annotations

from invoke import Collection, Context

from ._boundary import load_settings, task


@task(
    help={
        "user": "the user name to add, or whose password to change",
        "password_stdin": "read the password from one line of stdin instead of asking twice",
        "iterations": "PBKDF2 iterations (default 101, what mosquitto_passwd 2.0 writes)",
    }
)
def add_user(c: Context, user: str, password_stdin: bool = False, iterations: int = 101) -> None:
    """Add a broker user, or change its password (asked twice, hidden; never an argument)."""
    from adeline_infra import console, passwd

    s = load_settings()
    passwd.validate_user(user)
    passwd.validate_iterations(iterations)
    password = passwd.read_password(from_stdin=password_stdin)
    with console.spinner(f"Writing {s.passwd_file} ...") as say:
        is_new = passwd.add_user(s.passwd_file, user, password, iterations=iterations, waiting=say)
    console.out(f"{'added' if is_new else 'updated'} user {user} in {s.passwd_file}")
    if s.allow_anonymous:
        console.out("the broker only asks for it with MQTT_ALLOW_ANONYMOUS=false in .env")
    console.out("a running broker reads the file at its start: `inv services.restart`")


@task(help={"user": "the user name to remove"})
def remove_user(c: Context, user: str) -> None:
    """Remove a broker user from the password file."""
    from adeline_infra import console, passwd

    s = load_settings()
    with console.spinner(f"Writing {s.passwd_file} ...") as say:
        passwd.delete_user(s.passwd_file, user, waiting=say)
    console.out(f"removed user {console.printable(user)} from {s.passwd_file}")
    console.out("a running broker reads the file at its start: `inv services.restart`")


@task(help={"json": "print JSON instead of a table"})
def list_users(c: Context, json: bool = False) -> None:
    """List the users of the password file (names and hash scheme, never hashes)."""
    from adeline_infra import console, passwd

    s = load_settings()
    pw = passwd.PasswordFile.load(s.passwd_file)
    rows = pw.entries()
    if json:
        console.print_json(
            {"file": str(s.passwd_file), "users": [{"user": u, "scheme": k} for u, k in rows]}
        )
        return
    if not rows:
        console.out(f"no users in {s.passwd_file}: add one with `inv auth.add-user NAME`")
        return
    console.table(str(s.passwd_file), ("user", "hash"), rows)
    warning = passwd.file_mode_problem(s.passwd_file)
    if warning:
        console.err(f"warning: {warning}")


ns = Collection("auth", add_user, remove_user, list_users)
