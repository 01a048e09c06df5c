"""Path parameters, held to the same limits as the ids in bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from api.schemas.common import _ID_PATTERN, _SKU_PATTERN


def _identifier(description: str) -> object:
    return Path(min_length=1, max_length=64, pattern=_ID_PATTERN, description=description)


OrderIdPath = Annotated[str, _identifier("The order's id.")]
ShipmentIdPath = Annotated[str, _identifier("The shipment's id.")]
ReturnIdPath = Annotated[str, _identifier("The return's id.")]
TransferIdPath = Annotated[str, _identifier("The transfer's id.")]
LocationIdPath = Annotated[str, _identifier("The location's id.")]
HoldIdPath = Annotated[str, _identifier("The hold's id.")]
RuleIdPath = Annotated[str, _identifier("The hold rule's id.")]
CustomerIdPath = Annotated[str, _identifier("The customer's id.")]
SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=_SKU_PATTERN, description="The SKU.")]
