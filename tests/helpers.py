"""Short ways to drive the Ledger in tests."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from commands import messages as m
from commands.contracts import Answers, CommandContext, CommandResult, Items, Writer
from commands.group_commit import GroupCommitter, InlineWriter
from commands.ledger import Ledger
from commands.pipeline import Pipeline
from domain.locations import LocationKind
from domain.orders import Order
from domain.stock import StockItem

MEMORY_ENV = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


_PIPELINES: weakref.WeakKeyDictionary[Ledger, Pipeline] = weakref.WeakKeyDictionary()
_WRITERS: weakref.WeakKeyDictionary[Ledger, Writer] = weakref.WeakKeyDictionary()


def memory_ledger(**pipeline: object) -> Ledger:
    """A ledger in memory; ``pipeline`` settings (clock, new_id, max_attempts ...) go to its pipeline."""
    ledger = Ledger(env=MEMORY_ENV)
    if pipeline:
        _PIPELINES[ledger] = Pipeline(ledger, **pipeline)  # type: ignore[arg-type]
    return ledger


def pipeline_of(ledger: Ledger, **settings: object) -> Pipeline:
    """The pipeline the helpers run this ledger's commands through (made on first use), as a
    service's writer with group commit off would."""
    if ledger not in _PIPELINES or settings:
        _PIPELINES[ledger] = Pipeline(ledger, **settings)  # type: ignore[arg-type]
    return _PIPELINES[ledger]


def use_pipeline(ledger: Ledger, pipeline: Pipeline) -> None:
    _PIPELINES[ledger] = pipeline


@contextmanager
def through_a_writer(ledger: Ledger, max_batch: int = 256) -> Iterator[GroupCommitter]:
    """The helpers' commands on this ledger go through a group committer, as the server runs it."""
    writer = GroupCommitter(Pipeline(ledger, trusted=True), max_batch=max_batch)
    writer.start()
    _WRITERS[ledger] = writer
    try:
        yield writer
    finally:
        del _WRITERS[ledger]
        writer.stop()


def execute(ledger: Ledger, command: m.Command, ctx: CommandContext | None = None) -> CommandResult:
    """One command, a batch of one; raises its error."""
    writer = _WRITERS.get(ledger) or InlineWriter(pipeline_of(ledger))
    return writer.execute(command, ctx)


def run_batch(ledger: Ledger, items: Items) -> Answers:
    """Commands in order, saved together; each answer a result or an error."""
    return pipeline_of(ledger).run(items)


def register(
    ledger: Ledger, location_id: str, priority: int = 1, kind: LocationKind = LocationKind.WAREHOUSE
) -> CommandResult:
    return execute(
        ledger,
        m.RegisterLocation(location_id=location_id, name=f"Location {location_id}", kind=kind, priority=priority),
    )


def receive(ledger: Ledger, sku: str, location_id: str, quantity: int) -> CommandResult:
    return execute(ledger, m.ReceiveStock(sku=sku, location_id=location_id, quantity=quantity))


def allow_backorder(ledger: Ledger, sku: str, location_id: str, allow: bool = True) -> CommandResult:
    return execute(
        ledger,
        m.SetStockPolicy(
            sku=sku, location_id=location_id, reorder_point=0, reorder_quantity=0, safety_stock=0, allow_backorder=allow
        ),
    )


def place(
    ledger: Ledger,
    lines: Iterable[tuple[str, int]] | Iterable[tuple[str, int, str]],
    order_id: str | None = None,
    location_id: str | None = None,
    ctx: CommandContext | None = None,
    **fields: object,
) -> CommandResult:
    order_lines = tuple(
        m.OrderLine(sku=line[0], quantity=line[1], unit_price=Decimal(line[2] if len(line) > 2 else "1.00"))  # type: ignore[misc]
        for line in lines
    )
    cmd = m.PlaceOrder(
        channel=str(fields.pop("channel", "web")),
        customer_id=str(fields.pop("customer_id", "cust-1")),
        currency=str(fields.pop("currency", "GBP")),
        lines=order_lines,
        order_id=order_id,
        location_id=location_id,
        **fields,  # type: ignore[arg-type]
    )
    return execute(ledger, cmd, ctx or CommandContext())


def item(ledger: Ledger, sku: str, location_id: str) -> StockItem:
    found: StockItem = ledger.repository.get(StockItem.id_for(sku, location_id))
    return found


def order(ledger: Ledger, order_id: str) -> Order:
    found: Order = ledger.repository.get(Order.id_for(order_id))
    return found
