"""The ``oms`` command line."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from api.settings import Settings

cli = typer.Typer(help="Order and inventory ledger.", no_args_is_help=True, add_completion=False)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create the ledger's schemas and tables (safe to run again, and concurrently)."""
    from api.database import open_database
    from api.upgrade import upgrade

    _configure_logging()
    database = open_database(Settings())
    try:
        upgrade(database.url)
    finally:
        database.close()
    typer.echo("database is up to date")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the HTTP service (upgrading the database first)."""
    import uvicorn

    from api.app import create_app
    from api.bootstrap import build

    _configure_logging()
    settings = Settings()
    container = build(settings)
    try:
        uvicorn.run(create_app(container), host=host or settings.host, port=port or settings.port)
    finally:
        container.close()


def main() -> None:
    cli()
