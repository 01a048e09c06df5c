"""``oms webhooks work``, ``oms notifications work``, ``oms export read`` and ``oms db grant-reader``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli_common import open_container, stop_on_signals
from api.settings import Settings

webhooks_cli = typer.Typer(help="Webhooks (subscriptions are managed through the API).", no_args_is_help=True)
notifications_cli = typer.Typer(help="Customer emails.", no_args_is_help=True)
export_cli = typer.Typer(help="Read models as files, for analysts.", no_args_is_help=True)


def _until_signalled(run: Any) -> None:
    """Run ``run(stop)`` until SIGINT or SIGTERM."""
    stop = threading.Event()
    stop_on_signals(stop, signal.SIGINT, signal.SIGTERM)
    run(stop)


@webhooks_cli.command("work")
def webhooks_work() -> None:
    """Deliver webhooks in this process, until stopped (run `oms serve --no-webhooks` beside it)."""
    from api.logs import configure

    configure(Settings())
    with open_container() as container:
        typer.echo("delivering webhooks; stop with Ctrl-C")
        _until_signalled(container.webhook_worker().run_forever)


@notifications_cli.command("work")
def notifications_work() -> None:
    """Email customers in this process, until stopped (run `oms serve --no-notifications` beside it)."""
    from api.logs import configure

    configure(Settings())
    with open_container() as container:
        notifier = container.notifier()
        if notifier is None:
            typer.echo("no SMTP server: set OMS_SMTP_URL", err=True)
            raise typer.Exit(2)
        typer.echo("emailing customers; stop with Ctrl-C")
        _until_signalled(notifier.run_forever)


@export_cli.command("read")
def export_read(
    table: Annotated[str, typer.Argument(help="A read table, such as orders, stock or finance_payments.")],
    path: Annotated[Path, typer.Argument(help="The file to write.")],
    format: Annotated[str, typer.Option("--format", help="csv, ndjson or parquet.")] = "parquet",
) -> None:
    """Write a whole read table to a file, at constant memory, with progress."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from api.database import open_database
    from api.exports import FORMATS, UnknownTable, count_rows, export_table

    if format not in FORMATS:
        typer.echo(f"unknown format {format!r}; choose one of: {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    database = open_database(Settings())
    try:
        import psycopg

        with psycopg.connect(database.url) as conn:
            try:
                total = count_rows(conn, table)
            except UnknownTable as error:
                typer.echo(str(error), err=True)
                raise typer.Exit(2) from None
            with (
                Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar,
                path.open("wb") as out,
            ):
                task = bar.add_task("export", total=total)
                written = export_table(conn, table, format, out, lambda n: bar.update(task, completed=n))
    finally:
        database.close()
    typer.echo(f"exported {written} rows of read.{table} to {path} ({format})")


def grant_reader(
    role: Annotated[str, typer.Argument(help="The database role to create or update, such as bi_reader.")],
    password: Annotated[
        str | None,
        typer.Option(
            envvar="OMS_READER_PASSWORD", help="Its password (or OMS_READER_PASSWORD); unset: no login password."
        ),
    ] = None,
) -> None:
    """Create (or update) a database role that may read schema `read` and nothing else, for a BI tool."""
    from api.database import open_database
    from api.readers import BadRoleName
    from api.readers import grant_reader as grant

    database = open_database(Settings())
    try:
        grant(database.url, role, password)
    except BadRoleName as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    finally:
        database.close()
    typer.echo(f"role {role} may read schema read (tables and views, also those made later) and nothing else")
