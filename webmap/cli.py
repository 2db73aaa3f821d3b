"""Command-line account administration: `flask --app webmap users ...` and `flask --app webmap tokens ...`."""
from __future__ import annotations

import sys

import click
import psycopg
from flask import Flask, current_app
from flask.cli import AppGroup

from geodata import accounts, audit, permissions, tokens
from geodata.validation import ValidationError
from webmap import db

users_cli = AppGroup("users", help="Create and change accounts (the first admin too).")
tokens_cli = AppGroup("tokens", help="Create, list and revoke API tokens.")


def _connect() -> psycopg.Connection:
    return psycopg.connect(db.database_url(current_app), autocommit=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        # One line: a password manager or a script pipes it in, and it never shows in the process list.
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _fail(exc: ValidationError) -> None:
    for name, problem in exc.fields.items():
        click.echo(f"error: {name} {problem}", err=True)
    raise SystemExit(1)


@users_cli.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(accounts.ROLES))
@click.option("--area", "areas", multiple=True, help="Area code the user serves or lives in (repeatable).")
@click.option("--email")
@click.option("--display-name")
@click.option("--party-id", type=int, help="Party (volunteer group, organisation) the user acts for.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def create_user(username, role, areas, email, display_name, party_id, password_stdin):
    """Create an account; prompts for the password unless --password-stdin."""
    password = _password(password_stdin)
    try:
        with _connect() as conn, conn.transaction():
            area_ids = accounts.area_ids_for_codes(conn, areas)
            user_id = accounts.create_user(conn, username, password, role, email=email, display_name=display_name,
                                           party_id=party_id, area_ids=area_ids)
            audit.record(conn, audit.command_line_actor(), "user.create", "user", user_id,
                         {"username": username, "role": role, "areas": area_ids, "party_id": party_id})
    except ValidationError as exc:
        _fail(exc)
    click.echo(f"created {role} {username} (id {user_id})")


@users_cli.command("set-password")
@click.option("--username", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def set_password(username, password_stdin):
    """Give an account a new password; every session of the account ends."""
    password = _password(password_stdin)
    with _connect() as conn, conn.transaction():
        account = accounts.find_user(conn, username)
        if account is None:
            raise click.ClickException(f"no account {username!r}")
        try:
            accounts.set_password(conn, account.id, password)
        except ValidationError as exc:
            _fail(exc)
        audit.record(conn, audit.command_line_actor(), "user.password_reset", "user", account.id)
    click.echo(f"password of {account.username} changed; their sessions have ended")


@users_cli.command("list")
def list_users():
    """Every account: id, username, role, areas, active."""
    with _connect() as conn:
        for row in accounts.list_users(conn, limit=100000):
            state = "" if row["active"] else "  (inactive)"
            click.echo(f"{row['id']:>6}  {row['username']:<24} {row['role']:<14} {' '.join(row['area_codes'])}{state}")


@tokens_cli.command("create")
@click.option("--user", "username", required=True, help="Username the token acts for.")
@click.option("--role", help="Role of the token (default: the user's); never more than the user's.")
@click.option("--name", required=True, help="What the token is for, e.g. the client's name.")
@click.option("--expires-days", type=click.IntRange(1, 3650), help="Days until the token stops working.")
def create_token(username, role, name, expires_days):
    """Create an API token and print it: this is the only time it is shown."""
    with _connect() as conn, conn.transaction():
        account = accounts.find_user(conn, username)
        if account is None or not account.active:
            raise click.ClickException(f"no active account {username!r}")
        role = role or account.role
        if role not in permissions.roles_within(account.role):
            raise click.ClickException(f"a {account.role}'s token may act as: "
                                       + ", ".join(permissions.roles_within(account.role)))
        try:
            created = tokens.create_api_token(conn, account.id, role, name, expires_at=tokens.expiry_in(expires_days))
        except ValidationError as exc:
            _fail(exc)
        audit.record(conn, audit.command_line_actor(), "token.create", "api_token", created.id,
                     {"user_id": account.id, "role": role, "name": name, "expires_days": expires_days})
    click.echo(created.token)
    click.echo(f"token {created.id} for {account.username} as {role}: keep it now, it is not shown again",
               err=True)


@tokens_cli.command("list")
def list_tokens():
    """Every token: id, prefix, user, role, name, state (never the token itself)."""
    with _connect() as conn:
        for t in tokens.list_tokens(conn, limit=100000):
            state = "revoked" if t["revoked_at"] else ("usable" if t["usable"] else "expired")
            click.echo(f"{t['id']:>6}  {t['prefix']}…  {t['username']:<24} {t['role']:<14} {state:<8} {t['name']}")


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
def revoke_token(token_id):
    """Revoke a token by its id (see `tokens list`)."""
    with _connect() as conn, conn.transaction():
        if not tokens.revoke(conn, token_id):
            raise click.ClickException(f"no usable token {token_id}")
        audit.record(conn, audit.command_line_actor(), "token.revoke", "api_token", token_id)
    click.echo(f"token {token_id} revoked")


def init_app(app: Flask) -> None:
    """Register the users and tokens command groups."""
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
