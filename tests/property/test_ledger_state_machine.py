"""Random sequences of every command, from two sessions that can act on stale state.

After every step: no oversell, every SKU's buckets sum to zero, every aggregate
reloads from the store equal to the live one (snapshots included), every order's
line quantities agree with each other and with the stock movements the order caused,
payments stay within their limits, and no order ever shipped while a hold was open.
At the end, every stored event and snapshot is byte for byte what the library's JSON
encoder writes. The order desk's commands (holds and hold rules, edits, return review,
exchanges) are drawn like the rest.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID, uuid4

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, JSONTranscoder
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from commands import messages as m
from commands.contracts import Answer, CommandContext, CommandResult
from commands.ledger import Ledger
from commands.phases import Encoded
from commands.pipeline import Pipeline
from domain.base import LedgerAggregate
from domain.buckets import ALL, MOVABLE
from domain.errors import LedgerError
from domain.locations import LocationKind
from domain.order_records import HoldKind, HoldRelease, ReturnStep
from domain.orders import Order
from domain.payments import PaymentKind
from domain.stock import AdjustmentReason, Disposition, StockItem
from tests.helpers import MEMORY_ENV, execute, pipeline_of

SKUS = ["A", "B", "C"]
LOCATIONS = ["north", "south"]
quantity = st.integers(min_value=1, max_value=6)
sku = st.sampled_from(SKUS)
location = st.sampled_from(LOCATIONS)


class SnapshottingLedger(Ledger):
    """Snapshots every few events, so reloads go through the snapshot path too."""

    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {StockItem: 3, Order: 4}


def second_session(first: Ledger) -> Ledger:
    class SharedStore(SnapshottingLedger):
        def construct_recorder(self) -> ApplicationRecorder:
            return first.recorder

    session = SharedStore(env=MEMORY_ENV)
    session.snapshots = first.snapshots
    session.repository.snapshot_store = first.snapshots
    session.store = first.store
    return session


@dataclass
class Decided:
    """One command decided by a session's pipeline, not yet written."""

    pipeline: Pipeline
    encoded: Encoded
    answers: list[Answer | None]

    def write(self) -> CommandResult:
        """Save it; raises IntegrityError if another session got there first."""
        self.pipeline.write(self.encoded)
        self.pipeline.settle(self.encoded, self.answers)
        answer = self.answers[0]
        assert isinstance(answer, CommandResult)
        return answer


def decide(pipeline: Pipeline, command: m.Command) -> Decided | None:
    """The pipeline's phases up to the write; None if a rule refused the command."""
    answers: list[Answer | None] = [None]
    batch = pipeline.admit([(command, CommandContext())], [0], answers)
    if not batch:
        return None
    encoded = pipeline.encode(pipeline.decide(batch, pipeline.prefetch(batch), answers))
    return None if isinstance(answers[0], LedgerError) else Decided(pipeline, encoded, answers)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = SnapshottingLedger(env=MEMORY_ENV)
        self.other = second_session(self.ledger)
        self.pipelines = {id(self.ledger): pipeline_of(self.ledger), id(self.other): pipeline_of(self.other)}
        self.orders: list[str] = []
        self.transfers: list[str] = []
        self.shipments: dict[str, list[str]] = defaultdict(list)
        self.returns: dict[str, list[str]] = defaultdict(list)
        self.live: dict[UUID, LedgerAggregate] = {}
        self.ever_backordered: set[tuple[str, str]] = set()

    @initialize()
    def register_locations(self) -> None:
        for priority, location_id in enumerate(LOCATIONS):
            self.run(
                m.RegisterLocation(
                    location_id=location_id, name=location_id, kind=LocationKind.WAREHOUSE, priority=priority
                )
            )

    # --- running commands ------------------------------------------------------

    def run(self, command: m.Command, session: Ledger | None = None) -> CommandResult | None:
        """Run like the Ledger does, keeping the live aggregates to compare with reloads."""
        session = session or self.ledger
        command = command.with_ids(lambda: str(uuid4()))
        decided = decide(self.pipelines[id(session)], command)
        if decided is None:
            return None
        try:
            result = decided.write()
        except IntegrityError:
            return self.retry(command, session)
        self.remember(command, result, decided.encoded.decision.touched)
        return result

    def retry(self, command: m.Command, session: Ledger) -> CommandResult | None:
        try:
            result = execute(session, command)
        except LedgerError:
            return None
        self.remember(command, result, [])
        return result

    def remember(self, command: m.Command, result: CommandResult, touched: list[LedgerAggregate]) -> None:
        for aggregate in touched:
            # A copy: the loader hands this very object to later commands, and one that
            # loses a conflict leaves it changed but unsaved (and out of the cache).
            self.live[aggregate.id] = copy.deepcopy(aggregate)
        if isinstance(command, m.PlaceOrder):
            self.orders.append(result.id)
        elif isinstance(command, m.TransferStock):
            self.transfers.append(result.id)
        elif isinstance(command, m.ShipOrder):
            self.shipments[command.order_id].append(result.extra["shipment_id"])
        elif isinstance(command, m.RequestReturn):
            self.returns[command.order_id].append(result.extra["return_id"])
        elif isinstance(command, m.SetStockPolicy) and command.allow_backorder:
            self.ever_backordered.add((command.sku, command.location_id))

    # --- commands --------------------------------------------------------------

    def commands(self) -> st.SearchStrategy[m.Command]:
        order = st.sampled_from(self.orders) if self.orders else st.just("missing")
        stock = [
            st.builds(m.ReceiveStock, sku=sku, location_id=location, quantity=quantity),
            st.builds(
                m.AdjustStock,
                sku=sku,
                location_id=location,
                reason=st.sampled_from(AdjustmentReason),
                delta=st.integers(-4, 4).filter(bool),
            ),
            st.builds(
                m.AdjustStock,
                sku=sku,
                location_id=location,
                reason=st.just(AdjustmentReason.CYCLE_COUNT),
                counted_quantity=st.integers(0, 12),
            ),
            st.builds(
                m.MoveStock,
                sku=sku,
                location_id=location,
                from_bucket=st.sampled_from(MOVABLE),
                to_bucket=st.sampled_from(MOVABLE),
                quantity=quantity,
            ),
            st.builds(
                m.SetStockPolicy,
                sku=sku,
                location_id=location,
                reorder_point=st.integers(0, 3),
                reorder_quantity=st.integers(0, 3),
                safety_stock=st.integers(0, 2),
                allow_backorder=st.booleans(),
            ),
            st.builds(m.TransferStock, sku=sku, from_location_id=location, to_location_id=location, quantity=quantity),
            st.builds(
                m.ReceiveTransfer,
                transfer_id=st.sampled_from(self.transfers or ["missing"]),
                quantity=st.none() | quantity,
            ),
        ]
        lines = st.lists(
            st.builds(m.OrderLine, sku=sku, quantity=quantity, unit_price=st.decimals(0, 20, places=2)),
            min_size=1,
            max_size=3,
            unique_by=lambda line: line.sku,
        ).map(tuple)
        line_quantities = st.lists(
            st.builds(m.LineQuantity, sku=sku, quantity=quantity),
            min_size=1,
            max_size=2,
            unique_by=lambda line: line.sku,
        ).map(tuple)
        orders = [
            st.builds(
                m.PlaceOrder,
                channel=st.just("web"),
                customer_id=st.just("c"),
                currency=st.just("GBP"),
                lines=lines,
                location_id=st.none() | location,
            ),
            st.builds(
                m.RecordPayment,
                order_id=order,
                kind=st.sampled_from(PaymentKind),
                amount=st.decimals(Decimal("0.01"), 50, places=2),
            ),
            st.builds(m.CancelOrder, order_id=order, reason=st.just("r"), lines=st.none() | line_quantities),
            st.builds(
                m.ShipOrder,
                order_id=order,
                location_id=st.none() | location,
                lines=st.none() | line_quantities,
                carrier=st.just("UPS"),
            ),
            order.flatmap(
                lambda o: st.builds(
                    m.DeliverShipment,
                    order_id=st.just(o),
                    shipment_id=st.sampled_from(self.shipments[o] or ["missing"]),
                )
            ),
            st.builds(
                m.RequestReturn,
                order_id=order,
                lines=st.lists(
                    st.builds(m.ReturnLine, sku=sku, quantity=quantity, reason=st.just("r")),
                    min_size=1,
                    max_size=2,
                    unique_by=lambda line: line.sku,
                ).map(tuple),
            ),
            order.flatmap(
                lambda o: st.builds(
                    m.ReceiveReturn,
                    order_id=st.just(o),
                    return_id=st.sampled_from(self.returns[o] or ["missing"]),
                    location_id=location,
                    lines=st.lists(
                        st.builds(
                            m.ReturnReceiptLine, sku=sku, quantity=quantity, disposition=st.sampled_from(Disposition)
                        ),
                        min_size=1,
                        max_size=2,
                    ).map(tuple),
                )
            ),
        ]
        informed = [order.flatmap(self.informed), order.flatmap(self.desk)] if self.orders else []
        return st.one_of(*stock, *orders, *self.desk_commands(order, lines), *informed, *informed)

    def desk_commands(
        self, order: st.SearchStrategy[str], lines: st.SearchStrategy[tuple[m.OrderLine, ...]]
    ) -> list[st.SearchStrategy[m.Command]]:
        reason = st.just("r")
        return [
            st.builds(m.PlaceHold, order_id=order, kind=st.sampled_from(HoldKind), reason=reason),
            st.builds(
                m.SetHoldRule,
                rule_id=st.sampled_from(["big", "unpaid"]),
                kind=st.sampled_from(HoldKind),
                reason=reason,
                above=st.none() | st.decimals(0, 60, places=2),
                currency=st.just("GBP"),
                unpaid=st.just(True),
                release=st.sampled_from(HoldRelease),
            ),
            st.builds(m.RemoveHoldRule, rule_id=st.sampled_from(["big", "unpaid"])),
            st.builds(m.ChangeLineQuantity, order_id=order, sku=sku, quantity=st.integers(0, 8), reason=reason),
            st.builds(m.RemoveOrderLine, order_id=order, sku=sku, reason=reason),
            st.builds(m.AddOrderLine, order_id=order, line=lines.map(lambda ls: ls[0]), reason=reason),
            st.builds(
                m.RequestReturn,
                order_id=order,
                approve=st.booleans(),
                lines=st.lists(
                    st.builds(m.ReturnLine, sku=sku, quantity=quantity, reason=reason),
                    min_size=1,
                    max_size=2,
                    unique_by=lambda line: line.sku,
                ).map(tuple),
                replacements=st.lists(
                    st.builds(m.OrderLine, sku=sku, quantity=quantity, unit_price=st.decimals(0, 20, places=2)),
                    max_size=2,
                    unique_by=lambda line: line.sku,
                ).map(tuple),
            ),
        ]

    def desk(self, order_id: str) -> st.SearchStrategy[m.Command]:
        """Desk commands built from the order's current state: release its holds, review its returns."""
        order: Order = self.ledger.repository.get(Order.id_for(order_id))
        options: list[st.SearchStrategy[m.Command]] = [
            st.builds(m.ReleaseHold, order_id=st.just(order_id), hold_id=st.just(hold_id), reason=st.just("ok"))
            for hold_id in order.open_holds
        ]
        for return_id, found in order.returns.items():
            if found.step is ReturnStep.REQUESTED:
                review = [m.ApproveReturn, m.DeclineReturn]
                options += [
                    st.builds(kind, order_id=st.just(order_id), return_id=st.just(return_id), reason=st.just("r"))
                    for kind in review
                ]
            elif found.refund_due > 0:
                options.append(st.builds(m.RefundReturn, order_id=st.just(order_id), return_id=st.just(return_id)))
        price = {sku: line.unit_price for sku, line in order.lines.items()}
        options += [
            st.builds(
                m.ChangeLineQuantity,
                order_id=st.just(order_id),
                sku=st.just(line_sku),
                quantity=st.integers(0, 8),
                reason=st.just("edit"),
            )
            for line_sku in price
        ]
        return st.one_of(*options)

    def informed(self, order_id: str) -> st.SearchStrategy[m.Command]:
        """Commands built from the order's current state, so later stages get reached."""
        order: Order = self.ledger.repository.get(Order.id_for(order_id))
        options: list[st.SearchStrategy[m.Command]] = [st.builds(m.ShipOrder, order_id=st.just(order_id))]
        shipped = [(s, line.shipped - line.return_requested) for s, line in order.lines.items()]
        shipped = [(s, q) for s, q in shipped if q > 0]
        if shipped:
            options.append(
                st.builds(
                    m.RequestReturn,
                    order_id=st.just(order_id),
                    lines=st.just(tuple(m.ReturnLine(sku=s, quantity=q, reason="r") for s, q in shipped)),
                )
            )
        undelivered = [sid for sid, sh in order.shipments.items() if sh.delivered_at is None]
        if undelivered:
            options.append(
                st.builds(m.DeliverShipment, order_id=st.just(order_id), shipment_id=st.sampled_from(undelivered))
            )
        for return_id, requested in order.returns.items():
            outstanding = [(s, r.requested - r.received) for s, r in requested.lines.items()]
            lines = tuple(
                m.ReturnReceiptLine(sku=s, quantity=q, disposition=Disposition.RESTOCK) for s, q in outstanding if q
            )
            if lines:
                options.append(
                    st.builds(
                        m.ReceiveReturn,
                        order_id=st.just(order_id),
                        return_id=st.just(return_id),
                        location_id=location,
                        lines=st.just(lines),
                    )
                )
        return st.one_of(*options)

    @rule(data=st.data())
    def one_command(self, data: st.DataObject) -> None:
        self.run(data.draw(self.commands()))

    @rule(data=st.data())
    def stale_session(self, data: st.DataObject) -> None:
        """The other session decides on state that a command from this one then changes."""
        slow = data.draw(self.commands()).with_ids(lambda: str(uuid4()))
        decided = decide(self.pipelines[id(self.other)], slow)
        self.run(data.draw(self.commands()))
        if decided is not None:
            try:
                result = decided.write()
            except IntegrityError:
                self.retry(slow, self.other)
            else:
                self.remember(slow, result, decided.encoded.decision.touched)

    # --- invariants ------------------------------------------------------------

    def events(self, kind: type[Any]) -> list[Any]:
        found = self.ledger.recorder.select_notifications(start=None, limit=1_000_000)
        return [e for e in map(self.ledger.mapper.to_domain_event, found) if isinstance(e, kind)]

    def items(self) -> list[StockItem]:
        ids = {e.originator_id for e in self.events(StockItem.Opened)}
        return [self.ledger.repository.get(i) for i in ids]

    @invariant()
    def no_oversell(self) -> None:
        for item in self.items():
            assert item.available >= -item.backorders, item
            if (item.sku, item.location_id) not in self.ever_backordered:
                assert item.available >= 0 and item.backorders == 0, item

    @invariant()
    def every_sku_balances_to_zero(self) -> None:
        totals: dict[str, int] = defaultdict(int)
        for item in self.items():
            totals[item.sku] += sum(item.balances[b.value] for b in ALL)
        assert all(total == 0 for total in totals.values()), totals

    @invariant()
    def reloaded_aggregates_equal_the_live_ones(self) -> None:
        for aggregate_id, live in self.live.items():
            for session in (self.ledger, self.other):
                reloaded = session.repository.get(aggregate_id)
                if reloaded.version == live.version:
                    differs = {
                        k: (reloaded.__dict__.get(k), live.__dict__.get(k))
                        for k in reloaded.__dict__.keys() | live.__dict__.keys()
                        if reloaded.__dict__.get(k) != live.__dict__.get(k)
                    }
                    assert not differs, (type(live).__name__, live.version, differs)

    @invariant()
    def order_lines_agree_with_each_other_and_with_stock_movements(self) -> None:
        moved: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for event in self.events(StockItem.Movement):
            order_id = getattr(event, "order_id", None)
            if order_id is None:
                continue
            sku_moves = moved[(order_id, self.sku_of(event))]
            kind = type(event).__name__
            sku_moves[kind] += event.quantity
            sku_moves[kind + ".backordered"] += getattr(event, "backordered", 0)
        for order_id in self.orders:
            order: Order = self.ledger.repository.get(Order.id_for(order_id))
            p = order.payments
            assert 0 <= p.refunded <= p.captured <= p.authorized - p.voided, p
            for found in order.returns.values():
                assert found.refunded <= found.credit - found.fee, found
            for line_sku, line in order.lines.items():
                counts = [
                    getattr(line, k)
                    for k in (
                        "committed",
                        "backordered",
                        "shipped",
                        "delivered",
                        "cancelled",
                        "return_requested",
                        "returned",
                    )
                ]
                assert min(counts) >= 0, line
                assert line.quantity == line.committed + line.backordered + line.shipped + line.cancelled
                assert line.delivered <= line.shipped
                assert line.returned <= line.return_requested <= line.shipped
                held = line.allocations.values()
                assert sum(h.committed for h in held) == line.committed
                assert sum(h.backordered for h in held) == line.backordered
                moves = moved[(order_id, line_sku)]
                assert moves["Committed"] - moves["Released"] - moves["Shipped"] == line.committed + line.backordered
                assert (
                    moves["Committed.backordered"] - moves["Released.backordered"] - moves["Shipped.backordered"]
                    == line.backordered
                )
                assert moves["Shipped"] == line.shipped
                assert moves["Restocked"] == line.returned

    @invariant()
    def nothing_ships_while_a_hold_is_open(self) -> None:
        held: dict[UUID, set[str]] = defaultdict(set)
        for event in self.events(LedgerAggregate.Event):
            if isinstance(event, Order.HoldPlaced):
                held[event.originator_id].add(event.hold_id)
            elif isinstance(event, Order.HoldReleased):
                held[event.originator_id].discard(event.hold_id)
            elif isinstance(event, Order.Shipped):
                assert not held[event.originator_id], (event.shipment_id, held[event.originator_id])

    @invariant()
    def stock_commitments_match_what_orders_hold(self) -> None:
        held: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for order_id in self.orders:
            order: Order = self.ledger.repository.get(Order.id_for(order_id))
            for line_sku, line in order.lines.items():
                for location_id, units in line.allocations.items():
                    held[(line_sku, location_id)][0] += units.committed + units.backordered
                    held[(line_sku, location_id)][1] += units.backordered
        for item in self.items():
            committed, backordered = held[(item.sku, item.location_id)]
            assert (item.committed, item.backorders) == (committed, backordered), item

    def sku_of(self, event: StockItem.Movement) -> str:
        item: StockItem = self.ledger.repository.get(event.originator_id)
        return item.sku

    def teardown(self) -> None:
        # Every stored event and snapshot holds exactly the bytes the library's own encoder writes.
        library = JSONTranscoder()
        self.ledger.register_transcodings(library)
        assert self.ledger.snapshots is not None
        stored = self.ledger.recorder.select_notifications(start=None, limit=1_000_000)
        snapshots = [s for i in self.live for s in self.ledger.snapshots.recorder.select_events(i)]
        for record in [*stored, *snapshots]:
            assert library.encode(library.decode(record.state)) == record.state, record.topic
        self.ledger.close()


class Counter(defaultdict[str, int]):
    def __init__(self) -> None:
        super().__init__(int)


LedgerMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestLedgerStateMachine = LedgerMachine.TestCase
_: Callable[..., object] = second_session
