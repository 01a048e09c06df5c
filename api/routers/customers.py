from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from psycopg import sql
from pydantic import BaseModel

from api.deps import ContainerDep, require
from api.errors import READ_ERRORS
from api.keys import Principal
from api.routers.paths import CustomerIdPath
from queries.orders import ORDERS

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
    # The email index is read-model data the projection can no longer rebuild for this customer.
    with container.pool.connection() as conn:
        conn.execute(sql.SQL("UPDATE {} SET email_hash = NULL WHERE customer_id = %s").format(ORDERS), (customer_id,))
    return ErasureAnswer(customer_id=customer_id, erased_at=erasure.erased_at, keys_deleted=erasure.keys_deleted)
