"""Stock buckets: where a unit of a SKU at a location is, in double-entry terms."""

from __future__ import annotations

from enum import StrEnum


class Bucket(StrEnum):
    # Inside buckets: stock the location holds or expects.
    AVAILABLE = "available"
    COMMITTED = "committed"
    DAMAGED = "damaged"
    QUALITY_CONTROL = "quality_control"
    SAFETY_STOCK = "safety_stock"
    INCOMING = "incoming"
    # Outside buckets: the other side of each entry.
    SUPPLIER = "supplier"
    CUSTOMER = "customer"
    SHRINKAGE = "shrinkage"
    TRANSIT = "transit"


INSIDE = (
    Bucket.AVAILABLE,
    Bucket.COMMITTED,
    Bucket.DAMAGED,
    Bucket.QUALITY_CONTROL,
    Bucket.SAFETY_STOCK,
    Bucket.INCOMING,
)
OUTSIDE = (Bucket.SUPPLIER, Bucket.CUSTOMER, Bucket.SHRINKAGE, Bucket.TRANSIT)
ALL = INSIDE + OUTSIDE

# What a person may move by hand: committed belongs to orders, incoming to transfers.
MOVABLE = (Bucket.AVAILABLE, Bucket.DAMAGED, Bucket.QUALITY_CONTROL, Bucket.SAFETY_STOCK)

ON_HAND = (
    Bucket.AVAILABLE,
    Bucket.COMMITTED,
    Bucket.DAMAGED,
    Bucket.QUALITY_CONTROL,
    Bucket.SAFETY_STOCK,
)
