"""The ``oms`` command line."""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Annotated

import typer

from api import cli_outbound as outbound_cli
from api.cli_audit import audit_cli
from api.cli_common import JsonOption, open_bytes, open_container, stop_on_signals
from api.settings import Settings

cli = typer.Typer(help="Order and inventory ledger.", no_args_is_help=True, add_completion=False)


def _show_version(value: bool) -> None:
    if value:
        from api import __version__

        typer.echo(f"oms {__version__}")
        raise typer.Exit


@cli.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Order and inventory ledger."""


db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_cli = typer.Typer(help="API keys.", no_args_is_help=True)
projections_cli = typer.Typer(help="Read-model projections.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(projections_cli, name="projections")
cli.add_typer(audit_cli, name="audit")
customers_cli = typer.Typer(help="Customers' personal data.", no_args_is_help=True)
cli.add_typer(customers_cli, name="customers")
cli.add_typer(outbound_cli.webhooks_cli, name="webhooks")
cli.add_typer(outbound_cli.notifications_cli, name="notifications")
cli.add_typer(outbound_cli.export_cli, name="export")
db_cli.command("grant-reader")(outbound_cli.grant_reader)


def _configure_logging(settings: Settings | None = None) -> None:
    """One handler on the root logger, text or JSON (``OMS_LOG_FORMAT``); uvicorn's loggers use it too."""
    from api.logs import configure

    configure(settings or Settings())


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply the pending schema migrations, in order (safe to run again, and concurrently)."""
    from api.database import open_database
    from api.upgrade import upgrade

    _configure_logging()
    database = open_database(Settings())
    try:
        applied = upgrade(database.url)
    finally:
        database.close()
    if applied:
        typer.echo(f"applied migrations {', '.join(map(str, applied))}")
    typer.echo("database is up to date")


@db_cli.command("status")
def db_status(as_json: JsonOption = False) -> None:
    """Every schema migration this version knows, and when each was applied (or that it is pending)."""
    from api.database import open_database
    from api.upgrade import status

    database = open_database(Settings())
    try:
        migrations = status(database.url)
    finally:
        database.close()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {"version": m.number, "name": m.name, "applied_at": m.applied_at and m.applied_at.isoformat()}
                    for m in migrations
                ]
            )
        )
        return
    for m in migrations:
        when = m.applied_at.isoformat(timespec="seconds") if m.applied_at else "pending"
        typer.echo(f"{m.number:>4}  {when:25}  {m.name}")
    pending = sum(1 for m in migrations if m.applied_at is None)
    typer.echo(f"{pending} pending; run `oms db upgrade`" if pending else "database is up to date")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    projections: Annotated[bool, typer.Option(help="Also run the projections in this process.")] = True,
    webhooks: Annotated[
        bool | None, typer.Option(help="Also deliver webhooks in this process (default OMS_WEBHOOKS).")
    ] = None,
    notifications: Annotated[
        bool, typer.Option(help="Also email customers in this process, when OMS_SMTP_URL is set.")
    ] = True,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="HTTP processes (default OMS_HTTP_WORKERS); one writer.")
    ] = None,
) -> None:
    """Run the HTTP service (upgrading the database first)."""
    import uvicorn

    from api.app import create_app
    from api.bootstrap import build
    from api.http_protocol import GuardedHttpTools
    from api.runtime import tune_gc
    from api.workers import writer_for_workers

    settings = Settings()
    _configure_logging(settings)
    workers = workers or settings.http_workers
    if workers > 1:
        # Every process writes its metrics here, and a scrape adds them up: set before the client is imported.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="oms-metrics-")
    if workers > 1 and not settings.group_commit:
        typer.echo("HTTP worker processes hand commands to the group commit: set OMS_GROUP_COMMIT=true", err=True)
        raise typer.Exit(2)
    container = build(settings)
    try:
        first_key = container.keys.create_first_admin()
        if first_key is not None:
            typer.echo("No API keys existed, so an admin key was created. It is shown this once; keep it safe:")
            typer.echo(first_key)
        if projections:
            container.start_projections()
        if settings.webhooks if webhooks is None else webhooks:
            container.start_webhooks()
        if notifications and container.start_notifications():
            typer.echo("emailing customers through the SMTP server in OMS_SMTP_URL")
        if container.start_checkpoints():
            typer.echo(f"signing a checkpoint every {settings.checkpoint_seconds:g} s when the ledger grows")
        host, port = host or settings.host, port or settings.port
        tune_gc()
        if workers == 1:
            uvicorn.run(
                create_app(container), host=host, port=port, access_log=False, log_config=None, http=GuardedHttpTools
            )
        else:
            with writer_for_workers(container) as worker_settings:
                os.environ.update(worker_settings)  # worker processes are spawned with this environment
                uvicorn.run(
                    "api.workers:create_worker_app",
                    factory=True,
                    workers=workers,
                    host=host,
                    port=port,
                    access_log=False,  # the app logs each request itself (api.middleware.Observe)
                    log_config=None,
                    http=GuardedHttpTools,
                )
    finally:
        container.close()


@keys_cli.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, integrator, analyst, support or auditor.")],
    name: Annotated[str, typer.Option(help="Who holds the key; events name it as the actor.")],
) -> None:
    """Create an API key; it is printed once, alone on the last line."""
    from api.keys import Role

    try:
        chosen = Role(role)
    except ValueError:
        typer.echo(f"unknown role {role!r}; choose one of: {', '.join(r.value for r in Role)}", err=True)
        raise typer.Exit(2) from None
    if not name.strip() or len(name) > 64:
        typer.echo("name must be 1 to 64 characters", err=True)
        raise typer.Exit(2)
    with open_container() as container:
        key = container.keys.create(name.strip(), chosen)
    typer.echo(f"created a {chosen.value} key for {name.strip()}; it is shown this once:")
    typer.echo(key)


@keys_cli.command("list")
def keys_list(as_json: JsonOption = False) -> None:
    """List keys (never the keys themselves): id, role, name, created, revoked."""
    with open_container() as container:
        infos = container.keys.list()
    if as_json:
        rows = [
            {
                "key_id": i.key_id,
                "role": i.role.value,
                "name": i.name,
                "created_at": i.created_at.isoformat(),
                "revoked_at": i.revoked_at.isoformat() if i.revoked_at else None,
            }
            for i in infos
        ]
        typer.echo(json.dumps(rows))
        return
    for info in infos:
        revoked = info.revoked_at.isoformat() if info.revoked_at else "-"
        typer.echo(f"{info.key_id}\t{info.role.value}\t{info.name}\t{info.created_at.isoformat()}\t{revoked}")


@keys_cli.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id, as `oms keys list` shows it.")]) -> None:
    """Revoke a key; requests with it are refused from then on."""
    with open_container() as container:
        if not container.keys.revoke(key_id):
            typer.echo(f"no active key {key_id!r}", err=True)
            raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@cli.command()
def project(
    names: Annotated[list[str] | None, typer.Argument(help="Projections to run (default: all).")] = None,
) -> None:
    """Run projections as a worker until interrupted (one worker per projection runs at a time)."""
    import signal
    import threading

    from api.runtime import tune_gc

    _configure_logging()
    with open_container() as container:
        tune_gc()
        container.start_projections(names or None)
        stop = threading.Event()
        stop_on_signals(stop, signal.SIGTERM)
        typer.echo(f"running projections: {', '.join(names or container.projection_names())}")
        with suppress(KeyboardInterrupt):
            stop.wait()


@projections_cli.command("status")
def projections_status(as_json: JsonOption = False) -> None:
    """Each projection's position, the ledger head, and the lag between them."""
    from projections.admin import statuses

    with open_container() as container, container.pool.connection() as conn:
        found = statuses(conn, container.projection_names())
    if as_json:
        rows = [
            {
                "name": s.name,
                "position": s.position,
                "head": s.head,
                "lag": s.lag,
                "updated_at": s.updated_at.isoformat() if s.updated_at else None,
            }
            for s in found
        ]
        typer.echo(json.dumps(rows))
        return
    typer.echo("name\tposition\thead\tlag\tupdated_at")
    for status in found:
        updated = status.updated_at.isoformat() if status.updated_at else "-"
        typer.echo(f"{status.name}\t{status.position}\t{status.head}\t{status.lag}\t{updated}")


@projections_cli.command("rebuild")
def projections_rebuild(name: Annotated[str, typer.Argument(help="stock, orders, kpis or audit.")]) -> None:
    """Rebuild a projection from the first event into fresh tables, then swap them in."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from api.runtime import tune_gc
    from projections.admin import head, rebuild

    with open_container() as container:
        tune_gc()
        if name not in container.projection_names():
            typer.echo(
                f"unknown projection {name!r}; choose one of: {', '.join(container.projection_names())}", err=True
            )
            raise typer.Exit(2)
        with container.pool.connection() as conn:
            total = head(conn)
        with Progress(
            TextColumn(f"rebuilding {name}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        ) as progress:
            task = progress.add_task(name, total=total)
            count = rebuild(container.runner(name), lambda _, position: progress.update(task, completed=position))
    typer.echo(f"rebuilt {name} from {count} events and swapped it in")


@customers_cli.command("erase")
def customers_erase(
    customer_id: Annotated[str, typer.Argument(help="The customer's id, as orders carry it.")],
    actor: Annotated[str, typer.Option(help="Who asked for the erasure; it is recorded.")] = "system:cli",
) -> None:
    """Erase a customer's personal data by deleting their key: their orders stay, showing it as erased."""
    from pydantic import TypeAdapter, ValidationError

    from api.schemas.common import Identifier  # the rule every id in a path or body follows

    try:
        TypeAdapter(Identifier).validate_python(customer_id)
    except ValidationError:
        typer.echo(f"not a customer id: {customer_id!r}", err=True)
        raise typer.Exit(2) from None
    with open_container() as container:
        erasure = container.ledger.personal_data.erase(customer_id, actor)
    typer.echo(
        f"erased customer {customer_id}: {erasure.keys_deleted} key(s) deleted at {erasure.erased_at.isoformat()};"
        " their sealed personal data can no longer be read"
    )


@cli.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="NDJSON commands (.ndjson or .ndjson.gz).")],
    results: Annotated[Path | None, typer.Option(help="Write one NDJSON result per line here.")] = None,
    actor: Annotated[str, typer.Option(help="Who the events name as the actor.")] = "system:import",
    chunk_size: Annotated[int, typer.Option(min=1, max=10_000, help="Lines saved together in one transaction.")] = 1000,
) -> None:
    """Apply NDJSON commands in order, with a progress bar; a bad line does not stop the others."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from api.importing import Line, run_chunks
    from api.runtime import tune_gc
    from commands.contracts import CommandContext

    with open_bytes(path) as counting:
        total = sum(1 for line in counting if line.strip())
    outcomes: Counter[str] = Counter()
    replayed = 0
    started = time.monotonic()
    sink = results.open("w", encoding="utf-8") if results else None
    try:
        with (
            open_container() as container,
            open_bytes(path) as lines,
            Progress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[failed]} failed"),
                transient=False,
            ) as progress,
        ):
            task = progress.add_task("import", total=total, failed=0)
            tune_gc()
            base = CommandContext(actor=actor, correlation_id=f"import:{path.name}")
            numbered: Iterator[Line] = enumerate(lines, start=1)
            chunks = iter(lambda: list(itertools.islice(numbered, chunk_size)), [])
            # Each chunk is one group commit; a failing line still fails alone.
            for done in run_chunks(container.writer, chunks, base):
                container.metrics.imported(done)
                for result in done:
                    outcomes[result.get("code", "ok")] += 1
                    replayed += bool(result.get("replayed"))
                    if sink:
                        sink.write(json.dumps(result, default=str) + "\n")
                progress.update(task, completed=sum(outcomes.values()), failed=sum(outcomes.values()) - outcomes["ok"])
    finally:
        if sink:
            sink.close()
    elapsed = time.monotonic() - started
    typer.echo(
        f"{sum(outcomes.values())} lines in {elapsed:.1f}s: {outcomes['ok']} ok, "
        f"{sum(outcomes.values()) - outcomes['ok']} failed; {replayed} of the ok lines were replays "
        "(their idempotency key had been saved before, so nothing was written again)"
    )
    for code, count in sorted(outcomes.items()):
        if code != "ok":
            typer.echo(f"  {code}: {count}")
    if outcomes["ok"] < sum(outcomes.values()):
        raise typer.Exit(1)


def main() -> None:
    cli()
