"""Group commit: commands saved together answer and record exactly as if run one by one."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from commands import messages as m
from commands.contracts import CommandContext, CommandResult
from commands.ledger import Ledger
from domain.errors import LedgerError
from domain.stock import AdjustmentReason
from tests.helpers import execute, memory_ledger, register, run_batch

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SKUS = ["A", "B"]
ORDERS = [f"o{n}" for n in range(6)]
order_ids = st.sampled_from(ORDERS)
skus = st.sampled_from(SKUS)

receipts = st.builds(
    lambda sku, n: (m.ReceiveStock(sku=sku, location_id="main", quantity=n), CommandContext()),
    skus,
    st.integers(1, 5),
)
adjustments = st.builds(
    lambda sku, n: (
        m.AdjustStock(sku=sku, location_id="main", reason=AdjustmentReason.DAMAGED, delta=n),
        CommandContext(),
    ),
    skus,
    st.integers(-4, 4).filter(bool),
)
placements = st.builds(
    lambda order_id, lines, key: (
        m.PlaceOrder(
            order_id=order_id,
            channel="web",
            customer_id="c",
            currency="GBP",
            lines=tuple(m.OrderLine(sku=s, quantity=q, unit_price=Decimal("1.50")) for s, q in lines.items()),
            ship_to={"name": "N"} if key else None,
        ),
        CommandContext(actor="integrator:t", idempotency_key=key),
    ),
    order_ids,
    st.dictionaries(skus, st.integers(1, 4), min_size=1),
    st.none() | st.sampled_from(["k1", "k2"]),
)
shipments = st.builds(
    lambda order_id, version: (
        m.ShipOrder(order_id=order_id, shipment_id=f"s-{order_id}-{version}", location_id="main"),
        CommandContext(expected_version=version),
    ),
    order_ids,
    st.none() | st.integers(1, 4),
)
cancellations = st.builds(lambda order_id: (m.CancelOrder(order_id=order_id, reason="r"), CommandContext()), order_ids)
commands = st.lists(st.one_of(receipts, adjustments, placements, shipments, cancellations), min_size=1, max_size=25)


def answer(outcome: CommandResult | LedgerError) -> Any:
    if isinstance(outcome, LedgerError):
        return (type(outcome).__name__, outcome.code, str(outcome))
    return outcome.as_dict()


def recorded(ledger: Ledger) -> list[tuple[Any, ...]]:
    notifications = ledger.recorder.select_notifications(start=None, limit=100_000)
    return [(n.id, n.originator_id, n.originator_version, n.topic) for n in notifications]


def one_by_one(ledger: Ledger, items: list[tuple[m.Command, CommandContext]]) -> list[Any]:
    answers = []
    for command, ctx in items:
        try:
            answers.append(answer(execute(ledger, command, ctx)))
        except LedgerError as error:
            answers.append(answer(error))
    return answers


def prepared() -> Ledger:
    ledger = memory_ledger(clock=lambda: NOW)
    register(ledger, "main")
    return ledger


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=commands, cuts=st.lists(st.integers(1, 25), max_size=4))
def test_a_batch_answers_and_records_like_the_same_commands_one_by_one(
    items: list[tuple[m.Command, CommandContext]], cuts: list[int]
) -> None:
    note(repr(items))
    note(repr(cuts))
    alone, grouped = prepared(), prepared()
    expected = one_by_one(alone, items)
    answers: list[Any] = []
    bounds = sorted({0, len(items), *(c for c in cuts if c < len(items))})
    for start, end in itertools.pairwise(bounds):
        answers += [answer(o) for o in run_batch(grouped, items[start:end])]
    assert answers == expected
    assert recorded(grouped) == recorded(alone)
    # Every aggregate reloads from the store as it is in the first ledger.
    for stream_id in {n[1] for n in recorded(alone)}:
        a, b = alone.repository.get(stream_id), grouped.repository.get(stream_id)
        assert state(alone, a) == state(grouped, b)


def state(ledger: Ledger, aggregate: Any) -> dict[str, Any]:
    """An aggregate's state, without the times the library stamps, and with personal data opened
    (each seal has its own random nonce and key)."""
    fields = {k: v for k, v in vars(aggregate).items() if k not in ("_created_on", "_modified_on")}
    if "personal_data" in fields:
        fields["personal_data"] = ledger.personal_data.reveal(aggregate.customer_id, fields["personal_data"])
    return fields


def test_a_command_that_misses_several_prefetches_keeps_what_it_read_unchanged() -> None:
    """Found by the test above: a ship in the batch that placed its order (under a key repeated in
    the batch) asked for the directory, the order and a stock item one by one. Each retry's
    rollback forgot what the previous miss had loaded, though the command had not changed it, so
    it missed again until it gave up."""
    Ctx = CommandContext
    keyed = Ctx(actor="integrator:t", idempotency_key="k1")
    price = Decimal("1.50")
    items = [
        (m.ReceiveStock(sku="A", location_id="main", quantity=1), Ctx()),
        (m.ReceiveStock(sku="B", location_id="main", quantity=1), Ctx()),
        (
            m.PlaceOrder(
                channel="web",
                customer_id="c",
                currency="GBP",
                lines=(
                    m.OrderLine(sku="B", quantity=1, unit_price=price),
                    m.OrderLine(sku="A", quantity=1, unit_price=price),
                ),
                order_id="o0",
                ship_to={"name": "N"},
            ),
            keyed,
        ),
        (
            m.PlaceOrder(
                channel="web",
                customer_id="c",
                currency="GBP",
                lines=(m.OrderLine(sku="A", quantity=1, unit_price=price),),
                order_id="o0",
                ship_to={"name": "N"},
            ),
            keyed,
        ),
        (m.AdjustStock(sku="A", location_id="main", reason=AdjustmentReason.DAMAGED, delta=1), Ctx()),
        (m.ShipOrder(order_id="o0", shipment_id="s-o0", location_id="main"), Ctx()),
    ]
    expected = one_by_one(prepared(), items)
    assert [answer(o) for o in run_batch(prepared(), items)] == expected
