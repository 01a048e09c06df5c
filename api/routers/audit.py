from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.deps import require
from api.errors import READ_ERRORS
from api.keys import Principal, Role
from api.reads import ReadConnection
from commands.chain import verify

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=READ_ERRORS)
Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]


class VerificationAnswer(BaseModel):
    ok: bool
    events: int
    head: str | None
    first_broken_position: int | None
    problem: str | None


@router.get("/verify", response_model=VerificationAnswer)
def verify_ledger(conn: ReadConnection, _: Auditor) -> VerificationAnswer:
    """Recompute the hash chain over every stored event; name the first position where it breaks.

    Publish `head` elsewhere as a witness: a ledger rewritten with a fresh chain would not match it.
    """
    result = verify(conn)
    return VerificationAnswer(
        ok=result.ok,
        events=result.events,
        head=result.head,
        first_broken_position=result.first_broken_position,
        problem=result.problem,
    )
