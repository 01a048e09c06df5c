from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from api.schemas.common import (
    BusinessTime,
    CommandBody,
    Identifier,
    NonNegative,
    Quantity,
    Reference,
    Sku,
    Strict,
    Text,
)
from commands import messages as m
from domain.buckets import Bucket
from domain.locations import LocationKind
from domain.stock import AdjustmentReason

MovableBucket = Literal["available", "damaged", "quality_control", "safety_stock"]


class RegisterLocationBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.RegisterLocation
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [{"location_id": "main", "name": "Main warehouse", "kind": "warehouse", "priority": 1}]
        }
    }

    location_id: Identifier
    name: Text
    kind: LocationKind
    priority: NonNegative = Field(description="Lower numbers are tried first when sourcing orders.")
    occurred_at: BusinessTime = None

    def to_command(self) -> m.RegisterLocation:
        return m.RegisterLocation(
            location_id=self.location_id,
            name=self.name,
            kind=self.kind,
            priority=self.priority,
            occurred_at=self.occurred_at,
        )


class ReceiveStockBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.ReceiveStock
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "sku": "85123A",
                    "location_id": "main",
                    "quantity": 120,
                    "reference": "PO-2041",
                    "occurred_at": "2026-03-01T09:30:00Z",
                }
            ]
        }
    }

    sku: Sku
    location_id: Identifier
    quantity: Quantity
    reference: Reference | None = None
    occurred_at: BusinessTime = None

    def to_command(self) -> m.ReceiveStock:
        return m.ReceiveStock(
            sku=self.sku,
            location_id=self.location_id,
            quantity=self.quantity,
            reference=self.reference,
            occurred_at=self.occurred_at,
        )


class AdjustStockBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.AdjustStock
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {"sku": "85123A", "location_id": "main", "delta": -2, "reason": "damaged"},
                {"sku": "85123A", "location_id": "main", "counted_quantity": 118, "reason": "cycle_count"},
            ]
        }
    }

    sku: Sku
    location_id: Identifier
    delta: int | None = Field(
        default=None,
        strict=True,
        ge=-1_000_000_000,
        le=1_000_000_000,
        description="Units to add (positive) or remove (negative); not zero.",
    )
    counted_quantity: NonNegative | None = Field(default=None, description="A physical count of on-hand units.")
    reason: AdjustmentReason
    occurred_at: BusinessTime = None

    @model_validator(mode="after")
    def one_of_delta_or_count(self) -> Self:
        if (self.delta is None) == (self.counted_quantity is None):
            raise ValueError("give exactly one of delta and counted_quantity")
        if self.delta == 0:
            raise ValueError("delta must not be zero")
        return self

    def to_command(self) -> m.AdjustStock:
        return m.AdjustStock(
            sku=self.sku,
            location_id=self.location_id,
            reason=self.reason,
            delta=self.delta,
            counted_quantity=self.counted_quantity,
            occurred_at=self.occurred_at,
        )


class MoveStockBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.MoveStock
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "sku": "85123A",
                    "location_id": "main",
                    "from_bucket": "available",
                    "to_bucket": "quality_control",
                    "quantity": 5,
                    "reason": "inspection",
                }
            ]
        }
    }

    sku: Sku
    location_id: Identifier
    from_bucket: MovableBucket
    to_bucket: MovableBucket
    quantity: Quantity
    reason: Text | None = None
    occurred_at: BusinessTime = None

    def to_command(self) -> m.MoveStock:
        return m.MoveStock(
            sku=self.sku,
            location_id=self.location_id,
            from_bucket=Bucket(self.from_bucket),
            to_bucket=Bucket(self.to_bucket),
            quantity=self.quantity,
            reason=self.reason,
            occurred_at=self.occurred_at,
        )


class TransferStockBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.TransferStock
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [{"sku": "85123A", "from_location_id": "main", "to_location_id": "store-1", "quantity": 10}]
        }
    }

    transfer_id: Identifier | None = None
    sku: Sku
    from_location_id: Identifier
    to_location_id: Identifier
    quantity: Quantity
    occurred_at: BusinessTime = None

    def to_command(self) -> m.TransferStock:
        return m.TransferStock(
            sku=self.sku,
            from_location_id=self.from_location_id,
            to_location_id=self.to_location_id,
            quantity=self.quantity,
            transfer_id=self.transfer_id,
            occurred_at=self.occurred_at,
        )


class ReceiveTransferBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.ReceiveTransfer
    model_config = Strict.model_config | {"json_schema_extra": {"examples": [{"quantity": 10}]}}

    quantity: Quantity | None = Field(default=None, description="Default: everything still outstanding.")
    occurred_at: BusinessTime = None

    def to_command(self, transfer_id: str) -> m.ReceiveTransfer:
        return m.ReceiveTransfer(transfer_id=transfer_id, quantity=self.quantity, occurred_at=self.occurred_at)


class StockPolicyBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.SetStockPolicy
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [{"reorder_point": 20, "reorder_quantity": 100, "safety_stock": 5, "allow_backorder": False}]
        }
    }

    reorder_point: NonNegative
    reorder_quantity: NonNegative
    safety_stock: NonNegative
    allow_backorder: bool = Field(strict=True)
    occurred_at: BusinessTime = None

    def to_command(self, sku: str, location_id: str) -> m.SetStockPolicy:
        return m.SetStockPolicy(
            sku=sku,
            location_id=location_id,
            reorder_point=self.reorder_point,
            reorder_quantity=self.reorder_quantity,
            safety_stock=self.safety_stock,
            allow_backorder=self.allow_backorder,
            occurred_at=self.occurred_at,
        )
