"""StockItem: one SKU at one location, kept as a small double-entry ledger.

Every movement event takes a quantity out of one bucket and puts it into another,
so the sum over all buckets (outside ones included) stays zero by construction.

Backorders: where an item allows them, an order may commit more than is available
and ``available`` goes negative. ``backorders`` counts the committed units that are
such backorders, so shipping never takes units another order already holds:
``available >= -backorders`` always, which keeps every non-backordered commitment
backed by a physical unit.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.base import LedgerAggregate, require_positive, stream_id
from domain.buckets import ALL, MOVABLE, ON_HAND, Bucket
from domain.errors import InsufficientStock, InvalidCommand, InvalidTransition
from domain.meta import Meta


class AdjustmentReason(StrEnum):
    CYCLE_COUNT = "cycle_count"
    DAMAGED = "damaged"
    SHRINKAGE = "shrinkage"
    FOUND = "found"
    CORRECTION = "correction"


class Disposition(StrEnum):
    RESTOCK = "restock"
    DAMAGED = "damaged"


class StockItem(LedgerAggregate):
    def __init__(self, sku: str, location_id: str) -> None:
        self.sku = sku
        self.location_id = location_id
        self.balances: dict[str, int] = {bucket.value: 0 for bucket in ALL}
        self.backorders = 0
        self.reorder_point = 0
        self.reorder_quantity = 0
        self.safety_stock = 0
        self.allow_backorder = False

    @staticmethod
    def id_for(sku: str, location_id: str) -> UUID:
        return stream_id("stock", sku, location_id)

    # --- reading ---------------------------------------------------------------

    def balance(self, bucket: Bucket) -> int:
        return self.balances[bucket]  # a Bucket hashes and compares as its value, without the enum's lookup

    @property
    def available(self) -> int:
        return self.balance(Bucket.AVAILABLE)

    @property
    def committed(self) -> int:
        return self.balance(Bucket.COMMITTED)

    @property
    def on_hand(self) -> int:
        return sum(self.balance(b) for b in ON_HAND)

    @property
    def fillable_backorders(self) -> int:
        """Backordered units that physical stock now covers, so they may ship."""
        return max(0, self.backorders + min(self.available, 0))

    # --- commands --------------------------------------------------------------

    @classmethod
    def open(cls, sku: str, location_id: str, meta: Meta) -> StockItem:
        return cls._create(
            cls.Opened,
            id=cls.id_for(sku, location_id),
            sku=sku,
            location_id=location_id,
            **meta.fields(),
        )

    def receive(self, quantity: int, reference: str | None, meta: Meta) -> None:
        require_positive(quantity)
        self._move(self.Received, Bucket.SUPPLIER, Bucket.AVAILABLE, quantity, meta, reference=reference)

    def adjust(self, delta: int, reason: AdjustmentReason, meta: Meta) -> None:
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise InvalidCommand(f"delta must be a non-zero integer, got {delta!r}")
        self._adjust(delta, reason, meta, counted=None)

    def count(self, counted: int, reason: AdjustmentReason, meta: Meta) -> None:
        """Record a physical count of on-hand units; the difference is adjusted."""
        if isinstance(counted, bool) or not isinstance(counted, int) or counted < 0:
            raise InvalidCommand(f"counted_quantity must be a non-negative integer, got {counted!r}")
        self._adjust(counted - self.on_hand, reason, meta, counted=counted)

    def move(self, source: Bucket, target: Bucket, quantity: int, reason: str | None, meta: Meta) -> None:
        require_positive(quantity)
        if source == target:
            raise InvalidCommand("from_bucket and to_bucket must differ")
        for bucket in (source, target):
            if bucket not in MOVABLE:
                raise InvalidCommand(
                    f"bucket {bucket.value!r} cannot be moved by hand; movable: " + ", ".join(b.value for b in MOVABLE)
                )
        self._require(source, quantity)
        self._move(self.Moved, source, target, quantity, meta, reason=reason)

    def commit(self, order_id: str, committed: int, backordered: int, meta: Meta) -> None:
        """Promise units to an order line; ``backordered`` of them are not in stock yet."""
        if committed < 0 or backordered < 0 or committed + backordered == 0:
            raise InvalidCommand("commit needs a positive quantity")
        if committed > max(self.available, 0):
            raise InsufficientStock(
                f"{self.sku} at {self.location_id}: {committed} to commit, {self.available} available",
                [self.sku],
            )
        if backordered and not self.allow_backorder:
            raise InsufficientStock(f"{self.sku} at {self.location_id} does not allow backorders", [self.sku])
        self._move(
            self.Committed,
            Bucket.AVAILABLE,
            Bucket.COMMITTED,
            committed + backordered,
            meta,
            order_id=order_id,
            backordered=backordered,
        )

    def release(self, order_id: str, committed: int, backordered: int, reason: str, meta: Meta) -> None:
        """Give back units an order line no longer needs (cancellation, reallocation)."""
        quantity = committed + backordered
        require_positive(quantity)
        if backordered > self.backorders or quantity > self.committed:
            raise InvalidTransition(f"{self.sku} at {self.location_id}: cannot release {quantity} units")
        self._move(
            self.Released,
            Bucket.COMMITTED,
            Bucket.AVAILABLE,
            quantity,
            meta,
            order_id=order_id,
            backordered=backordered,
            reason=reason,
        )

    def ship(self, order_id: str, shipment_id: str, committed: int, backordered: int, meta: Meta) -> None:
        quantity = committed + backordered
        require_positive(quantity)
        if committed > self.committed - self.backorders:
            raise InvalidTransition(f"{self.sku} at {self.location_id}: {committed} units are not committed")
        if backordered > self.fillable_backorders:
            raise InsufficientStock(
                f"{self.sku} at {self.location_id}: backordered units are not in stock yet", [self.sku]
            )
        self._move(
            self.Shipped,
            Bucket.COMMITTED,
            Bucket.CUSTOMER,
            quantity,
            meta,
            order_id=order_id,
            shipment_id=shipment_id,
            backordered=backordered,
        )

    def restock(self, order_id: str, return_id: str, quantity: int, disposition: Disposition, meta: Meta) -> None:
        require_positive(quantity)
        target = Bucket.AVAILABLE if disposition is Disposition.RESTOCK else Bucket.DAMAGED
        self._move(
            self.Restocked,
            Bucket.CUSTOMER,
            target,
            quantity,
            meta,
            order_id=order_id,
            return_id=return_id,
        )

    def transfer_out(self, transfer_id: str, quantity: int, meta: Meta) -> None:
        require_positive(quantity)
        self._require(Bucket.AVAILABLE, quantity)
        self._move(self.TransferredOut, Bucket.AVAILABLE, Bucket.TRANSIT, quantity, meta, transfer_id=transfer_id)

    def expect_transfer(self, transfer_id: str, quantity: int, meta: Meta) -> None:
        require_positive(quantity)
        self._move(self.TransferExpected, Bucket.TRANSIT, Bucket.INCOMING, quantity, meta, transfer_id=transfer_id)

    def transfer_in(self, transfer_id: str, quantity: int, meta: Meta) -> None:
        require_positive(quantity)
        self._require(Bucket.INCOMING, quantity)
        self._move(self.TransferredIn, Bucket.INCOMING, Bucket.AVAILABLE, quantity, meta, transfer_id=transfer_id)

    def set_policy(
        self, reorder_point: int, reorder_quantity: int, safety_stock: int, allow_backorder: bool, meta: Meta
    ) -> None:
        for name, value in (
            ("reorder_point", reorder_point),
            ("reorder_quantity", reorder_quantity),
            ("safety_stock", safety_stock),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidCommand(f"{name} must be a non-negative integer, got {value!r}")
        self.trigger_event(
            self.PolicySet,
            **meta.fields(),
            reorder_point=reorder_point,
            reorder_quantity=reorder_quantity,
            safety_stock=safety_stock,
            allow_backorder=allow_backorder,
        )
        # The safety-stock bucket follows the policy as far as available stock allows.
        held = self.balance(Bucket.SAFETY_STOCK)
        if safety_stock > held and self.available > 0:
            quantity = min(safety_stock - held, self.available)
            self._move(self.Moved, Bucket.AVAILABLE, Bucket.SAFETY_STOCK, quantity, meta, reason="safety_stock_policy")
        elif safety_stock < held:
            self._move(
                self.Moved,
                Bucket.SAFETY_STOCK,
                Bucket.AVAILABLE,
                held - safety_stock,
                meta,
                reason="safety_stock_policy",
            )

    # --- helpers ---------------------------------------------------------------

    def _adjust(self, delta: int, reason: AdjustmentReason, meta: Meta, counted: int | None) -> None:
        if reason is AdjustmentReason.DAMAGED:
            if delta > 0:
                raise InvalidCommand("a damaged adjustment must reduce stock")
            outside = Bucket.DAMAGED
        else:
            outside = Bucket.SHRINKAGE
        if delta > 0 and reason is AdjustmentReason.SHRINKAGE:
            raise InvalidCommand("a shrinkage adjustment must reduce stock")
        if delta >= 0:
            source, target, quantity = outside, Bucket.AVAILABLE, delta
        else:
            source, target, quantity = Bucket.AVAILABLE, outside, -delta
            self._require(Bucket.AVAILABLE, quantity)
        self._move(self.Adjusted, source, target, quantity, meta, reason=reason.value, counted_quantity=counted)

    def _require(self, bucket: Bucket, quantity: int) -> None:
        if self.balance(bucket) < quantity:
            raise InsufficientStock(
                f"{self.sku} at {self.location_id}: {quantity} needed from {bucket.value}, "
                f"{self.balance(bucket)} there",
                [self.sku],
            )

    def _move(
        self,
        event_class: type[StockItem.Movement],
        source: Bucket,
        target: Bucket,
        quantity: int,
        meta: Meta,
        **fields: Any,
    ) -> None:
        self.trigger_event(
            event_class,
            **meta.fields(),
            from_bucket=str(source),  # the plain value: str() is the str type's own, .value the enum's
            to_bucket=str(target),
            quantity=quantity,
            **fields,
        )

    # --- events ----------------------------------------------------------------

    class Opened(LedgerAggregate.Created):
        sku: str
        location_id: str

    class Movement(LedgerAggregate.Event):
        """A balanced entry: ``quantity`` leaves one bucket and enters another."""

        from_bucket: str
        to_bucket: str
        quantity: int

        def apply(self, aggregate: StockItem) -> None:
            aggregate.balances[self.from_bucket] -= self.quantity
            aggregate.balances[self.to_bucket] += self.quantity

    class Received(Movement):
        reference: str | None

    class Adjusted(Movement):
        reason: str
        counted_quantity: int | None

    class Moved(Movement):
        reason: str | None

    class Committed(Movement):
        order_id: str
        backordered: int

        def apply(self, aggregate: StockItem) -> None:
            super().apply(aggregate)
            aggregate.backorders += self.backordered

    class Released(Movement):
        order_id: str
        backordered: int
        reason: str

        def apply(self, aggregate: StockItem) -> None:
            super().apply(aggregate)
            aggregate.backorders -= self.backordered

    class Shipped(Movement):
        order_id: str
        shipment_id: str
        backordered: int

        def apply(self, aggregate: StockItem) -> None:
            super().apply(aggregate)
            aggregate.backorders -= self.backordered

    class Restocked(Movement):
        order_id: str
        return_id: str

    class TransferredOut(Movement):
        transfer_id: str

    class TransferExpected(Movement):
        transfer_id: str

    class TransferredIn(Movement):
        transfer_id: str

    class PolicySet(LedgerAggregate.Event):
        reorder_point: int
        reorder_quantity: int
        safety_stock: int
        allow_backorder: bool

        def apply(self, aggregate: StockItem) -> None:
            aggregate.reorder_point = self.reorder_point
            aggregate.reorder_quantity = self.reorder_quantity
            aggregate.safety_stock = self.safety_stock
            aggregate.allow_backorder = self.allow_backorder
