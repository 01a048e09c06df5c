"""``oms audit``: verify, checkpoint, export, reconcile, and the ledger's key."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli_common import JsonOption, open_container, open_text, refuse_key
from api.settings import Settings

if TYPE_CHECKING:
    from api.bootstrap import Container
    from commands.chain import Expectation, Verification
    from commands.seals import Seals
    from commands.signing import LedgerKey, PublicKey

audit_cli = typer.Typer(help="Audit: tamper evidence.", no_args_is_help=True)

CheckpointOption = Annotated[
    list[Path] | None,
    typer.Option("--checkpoint", exists=True, dir_okay=False, help="A signed checkpoint the ledger must extend."),
]
PublicKeyOption = Annotated[
    str | None,
    typer.Option(
        "--public-key",
        help="The key checkpoints must be signed with (base64, or a file holding it); default: the ledger key's.",
    ),
]


def _ledger_key(settings: Settings) -> LedgerKey | None:
    from commands.signing import BadKey

    try:
        return settings.ledger_key()
    except BadKey as error:
        refuse_key(error)


def _trusted_key(given: str | None, key: LedgerKey | None) -> PublicKey:
    from commands.signing import BadKey, PublicKey

    if given is None:
        if key is None:
            typer.echo("checking a checkpoint needs the public key it must be signed with: --public-key", err=True)
            raise typer.Exit(2)
        return key.public
    try:
        text = Path(given).read_text(encoding="ascii") if Path(given).is_file() else given
        return PublicKey.from_text(text)
    except (BadKey, OSError, UnicodeDecodeError) as error:
        typer.echo(f"--public-key: {error}", err=True)
        raise typer.Exit(2) from None


def _expectations(
    checkpoints: list[Path], public: PublicKey | None, expect_head: str | None, at_least: int | None
) -> list[Expectation]:
    from commands.chain import Expectation
    from commands.checkpoints import BadCheckpoint, Signed

    found: list[Expectation] = []
    for path in checkpoints:
        try:
            signed = Signed.from_document(json.loads(path.read_text(encoding="utf-8")))
            if public is not None:
                signed.check(public)
        except (BadCheckpoint, ValueError) as error:
            typer.echo(f"{path}: {error}", err=True)
            raise typer.Exit(1) from None
        found.append(signed.expectation(f"the checkpoint {path.name}"))
    if expect_head is not None:
        try:
            head = bytes.fromhex(expect_head)
        except ValueError:
            head = b""
        if len(head) != 32:
            typer.echo(f"--expect-head takes a chain hash (64 hex digits), not {expect_head!r}", err=True)
            raise typer.Exit(2)
        found.append(Expectation(head, at_least=at_least, source="the expected head"))
    elif at_least is not None:
        typer.echo("--at-least goes with --expect-head", err=True)
        raise typer.Exit(2)
    return found


@audit_cli.command("verify")
def audit_verify(
    checkpoint: CheckpointOption = None,
    public_key: PublicKeyOption = None,
    expect_head: Annotated[str | None, typer.Option(help="A head hash published earlier (hex).")] = None,
    at_least: Annotated[int | None, typer.Option(min=0, help="With --expect-head: events it had then.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", exists=True, dir_okay=False, help="Verify an export offline, with no database."),
    ] = None,
    since_checkpoint: Annotated[
        bool,
        typer.Option(
            "--since-checkpoint",
            help="Trust the latest stored checkpoint signed with the key (--public-key, or the ledger key's)"
            " and verify only what was added after it.",
        ),
    ] = False,
    here: Annotated[
        bool, typer.Option("--here", help="Recompute every hash in this process, none in the database server.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Recompute the hash chain and check every stored row beside it; name the first position
    where it breaks. With --checkpoint or --expect-head, prove the ledger extends that earlier head."""
    from commands.seals import Seals

    settings = Settings()
    key = _ledger_key(settings)
    public = _trusted_key(public_key, key) if checkpoint or since_checkpoint else None
    expectations = _expectations(checkpoint or [], public, expect_head, at_least)
    seals = Seals(key.seal_key()) if key is not None else None
    if file is not None and (since_checkpoint or here):
        typer.echo("--file verifies an export here, from its first line: no --since-checkpoint or --here", err=True)
        raise typer.Exit(2)
    if file is not None:
        from commands.export import verify_export
        from projections.events import make_mapper

        with open_text(file) as lines:
            result = verify_export(lines, make_mapper(), expectations, seals)
    else:
        result = _verify_database(expectations, seals, public if since_checkpoint else None, here)
    _report(result, expectations, as_json)


def _verify_database(
    expectations: list[Expectation], seals: Seals | None, since: PublicKey | None, here: bool
) -> Verification:
    from commands.chain_verify import verify
    from commands.checkpoints import Unverified, since_latest
    from commands.row_checks import with_rows_checked

    with open_container() as container, container.pool.connection() as conn:
        # Unkeyed seals are still checked: they catch rows changed by hand.
        seals = seals or container.seals
        previous, start = None, None
        if since is not None:
            try:
                previous, start = since_latest(conn, since)
            except Unverified as refused:
                return refused.result
        result = verify(conn, expectations, seals, start, here=here)
        result = with_rows_checked(conn, result, seals, after=start.position if start else 0)
    if since is not None:
        result.notes.append(
            f"verified after the checkpoint at position {previous.checkpoint.position}, which vouches for the"
            f" {previous.checkpoint.events} events up to it"
            if previous is not None
            else "no stored checkpoint is signed with that key: verified from the first event"
        )
    if not seals.keyed:
        result.notes.append("seals are unkeyed digests (no ledger key): they do not stop someone who recomputes them")
    return result


def _report(result: Verification, expectations: list[Expectation], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(asdict(result)))
    elif result.ok:
        typer.echo(f"ledger verified: {result.events} events; head {result.head or '-'} at position {result.position}")
        for expected in expectations:
            typer.echo(f"  extends {expected.source}")
    else:
        if result.problem is not None:
            where = f"position {result.first_broken_position}" if result.first_broken_position else "the end"
            typer.echo(
                f"ledger BROKEN at {where}: {result.problem} ({result.events} events verified before it)", err=True
            )
        for finding in result.findings:
            typer.echo(f"  {finding}", err=True)
    if not as_json:
        for note in result.notes:
            typer.echo(f"  note: {note}")
    if not result.ok:
        raise typer.Exit(1)


@audit_cli.command("checkpoint")
def audit_checkpoint(
    out: Annotated[
        Path | None, typer.Option(help="Write the signed checkpoint here (a folder: checkpoint-<position>.json).")
    ] = None,
) -> None:
    """Verify the ledger since the last checkpoint, sign its head with the ledger key, and store it."""
    from api.checkpointing import write_file
    from commands.checkpoints import Unverified, latest, take

    with open_container() as container:
        if container.key is None:
            typer.echo("signing needs the ledger key: set OMS_SIGNING_KEY or OMS_SIGNING_KEY_FILE", err=True)
            raise typer.Exit(2)
        with container.pool.connection() as conn:
            try:
                signed = take(conn, container.key, container.seals)
            except Unverified as error:
                typer.echo(f"no checkpoint signed: {error}", err=True)
                raise typer.Exit(1) from None
            if signed is None:
                signed = latest(conn, container.key.public)
                if signed is None:
                    typer.echo("the ledger is empty: nothing to sign")
                    return
                typer.echo(f"the ledger has not grown since the checkpoint at position {signed.checkpoint.position}")
    c = signed.checkpoint
    if out is None:
        typer.echo(json.dumps(signed.document(), indent=2))
        return
    where = write_file(signed, out)
    typer.echo(f"checkpoint at position {c.position} ({c.events} events, head {c.hash}) written to {where}")


@audit_cli.command("keygen")
def audit_keygen(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the new private key (PEM).")],
) -> None:
    """Make a new ledger key; print its public key, for auditors. Keep the file outside the database."""
    from commands.signing import LedgerKey

    key = LedgerKey.generate()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        typer.echo(f"{path} exists; not overwriting a key", err=True)
        raise typer.Exit(2) from None
    with os.fdopen(descriptor, "wb") as out:
        out.write(key.pem())
    typer.echo(f"wrote {path}; set OMS_SIGNING_KEY_FILE={path}")
    typer.echo(f"public key (key id {key.public.key_id}): {key.public.text()}")


@audit_cli.command("public-key")
def audit_public_key() -> None:
    """Print the ledger key's public key: what auditors verify checkpoints with."""
    key = _ledger_key(Settings())
    if key is None:
        typer.echo("no ledger key: set OMS_SIGNING_KEY or OMS_SIGNING_KEY_FILE", err=True)
        raise typer.Exit(2)
    typer.echo(key.public.text())


@audit_cli.command("export")
def audit_export(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the NDJSON (.gz compresses).")],
    after: Annotated[int, typer.Option(help="Only events after this ledger position.")] = 0,
) -> None:
    """Write the ledger as NDJSON: each event's stored bytes, chain hash and decoded form."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from commands.export import export_lines
    from projections.admin import head
    from projections.events import make_mapper

    written = 0
    with open_container() as container, container.pool.connection() as conn, open_text(path, "wt") as out:
        last = head(conn)
        with Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
            task = bar.add_task("export", total=max(last - after, 0))
            for line in export_lines(conn, make_mapper(), after, lambda p: bar.update(task, completed=p - after)):
                out.write(line)
                written += 1
    typer.echo(f"exported {written} events after position {after} to {path}")


@audit_cli.command("reconcile")
def audit_reconcile(
    names: Annotated[
        list[str] | None, typer.Argument(help="Projections to check, or snapshots (default: all of them).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="List at most this many differences per projection.")] = 50,
) -> None:
    """Fold the events again and compare with every read model and every aggregate's latest
    snapshot; list each difference (exit 1 if any)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from projections.admin import head
    from projections.reconcile import reconcile

    differences = 0
    with open_container() as container:
        known = [*container.projection_names(), "snapshots"]
        unknown = [n for n in names or [] if n not in known]
        if unknown:
            typer.echo(f"unknown projection {unknown[0]!r}; choose from: {', '.join(known)}")
            raise typer.Exit(2)
        for name in names or known:
            if name == "snapshots":
                differences += _reconcile_snapshots(container, limit)
                continue
            with container.pool.connection() as conn:
                total = head(conn)
            with Progress(
                TextColumn(f"folding {name}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
            ) as progress:
                task = progress.add_task(name, total=total)
                report = reconcile(
                    container.runner(name),
                    limit,
                    lambda _, position, task=task: progress.update(task, completed=position),  # type: ignore[misc]
                )
            verdict = "agrees" if report.total == 0 else f"{report.total} difference(s)"
            typer.echo(f"{name}: {verdict} at position {report.position} ({report.folded} events folded)")
            _list([d.describe() for d in report.differences], report.total)
            differences += report.total
    if differences:
        raise typer.Exit(1)


def _reconcile_snapshots(container: Container, limit: int) -> int:
    from commands.snapshot_check import compare

    ledger = container.ledger
    if ledger.snapshot_mapper is None:
        typer.echo("snapshots: off (every load folds every event)")
        return 0
    with container.pool.connection() as conn:
        report = compare(conn, ledger.mapper, ledger.snapshot_mapper, limit)
    verdict = "agree" if report.total == 0 else f"{report.total} difference(s)"
    typer.echo(f"snapshots: {verdict} with the events ({report.checked} latest snapshots folded again)")
    _list([d.describe() for d in report.differences], report.total)
    return report.total


def _list(described: list[str], total: int) -> None:
    for line in described:
        typer.echo(f"  {line}")
    if total > len(described):
        typer.echo(f"  ... and {total - len(described)} more")
