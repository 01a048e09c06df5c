"""Transfer: stock sent from one location to another, received in one or more parts."""

from __future__ import annotations

from uuid import UUID

from domain.base import LedgerAggregate, require_positive, stream_id
from domain.errors import InvalidCommand, InvalidTransition
from domain.meta import Meta


class Transfer(LedgerAggregate):
    def __init__(
        self, *, transfer_id: str, sku: str, from_location_id: str, to_location_id: str, quantity: int
    ) -> None:
        self.transfer_id = transfer_id
        self.sku = sku
        self.from_location_id = from_location_id
        self.to_location_id = to_location_id
        self.quantity = quantity
        self.received = 0

    @staticmethod
    def id_for(transfer_id: str) -> UUID:
        return stream_id("transfer", transfer_id)

    @property
    def outstanding(self) -> int:
        return self.quantity - self.received

    @classmethod
    def dispatch(
        cls, transfer_id: str, sku: str, *, from_location_id: str, to_location_id: str, quantity: int, meta: Meta
    ) -> Transfer:
        require_positive(quantity)
        if from_location_id == to_location_id:
            raise InvalidCommand("a transfer needs two different locations")
        return cls._create(
            cls.Dispatched,
            id=cls.id_for(transfer_id),
            transfer_id=transfer_id,
            sku=sku,
            from_location_id=from_location_id,
            to_location_id=to_location_id,
            quantity=quantity,
            **meta.fields(),
        )

    def receive(self, quantity: int | None, meta: Meta) -> int:
        """Receive ``quantity`` (default: all outstanding); returns what was received."""
        if self.outstanding == 0:
            raise InvalidTransition(f"transfer {self.transfer_id!r} is already fully received")
        received = self.outstanding if quantity is None else quantity
        require_positive(received)
        if received > self.outstanding:
            raise InvalidTransition(
                f"transfer {self.transfer_id!r} has {self.outstanding} units outstanding, not {received}"
            )
        self.trigger_event(self.Received, **meta.fields(), quantity=received)
        return received

    class Dispatched(LedgerAggregate.Created):
        transfer_id: str
        sku: str
        from_location_id: str
        to_location_id: str
        quantity: int

    class Received(LedgerAggregate.Event):
        quantity: int

        def apply(self, aggregate: Transfer) -> None:
            aggregate.received += self.quantity
