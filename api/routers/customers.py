from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.deps import ContainerDep, require
from api.errors import READ_ERRORS
from api.keys import Principal
from api.routers.paths import CustomerIdPath

router = APIRouter(prefix="/v1/customers", tags=["customers"])
Admin = Annotated[Principal, Depends(require())]


class ErasureAnswer(BaseModel):
    customer_id: str
    erased_at: datetime
    keys_deleted: int


@router.post("/{customer_id}/erasure", response_model=ErasureAnswer, responses=READ_ERRORS)
def erase_customer(customer_id: CustomerIdPath, container: ContainerDep, principal: Admin) -> ErasureAnswer:
    """Erase the customer's personal data (a privacy request): their key is deleted, the events stay.

    Orders keep their lines, statuses and money; their ship-to details read as `erased`.
    Repeating the request is harmless and is recorded again.
    """
    erasure = container.ledger.personal_data.erase(customer_id, principal.actor)
    return ErasureAnswer(customer_id=customer_id, erased_at=erasure.erased_at, keys_deleted=erasure.keys_deleted)
