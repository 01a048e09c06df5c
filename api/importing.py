"""Bulk import: NDJSON, one command per line, applied in order.

A line is ``{"command": "<name>", "idempotency_key"?: "...", ...fields}``, where the
fields are the REST body of that command plus the ids its path would carry
(``order_id``, ``shipment_id``, ...). Every line gets one result; a bad line does
not stop the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from eventsourcing.persistence import PersistenceError
from pydantic import TypeAdapter, ValidationError

from api.errors import field_errors
from api.schemas import inventory as inv
from api.schemas import orders as o
from api.schemas.common import Identifier, Sku, Strict, VisibleAscii
from commands.ledger import CommandContext, Ledger
from commands.messages import Command
from domain.errors import LedgerError

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
_SKU: TypeAdapter[str] = TypeAdapter(Sku)
_KEY: TypeAdapter[str] = TypeAdapter(VisibleAscii)


@dataclass(frozen=True, slots=True)
class Spec:
    body: type[Strict]
    path: tuple[str, ...] = ()


SPECS: dict[str, Spec] = {
    "register_location": Spec(inv.RegisterLocationBody),
    "receive_stock": Spec(inv.ReceiveStockBody),
    "adjust_stock": Spec(inv.AdjustStockBody),
    "move_stock": Spec(inv.MoveStockBody),
    "transfer_stock": Spec(inv.TransferStockBody),
    "receive_transfer": Spec(inv.ReceiveTransferBody, ("transfer_id",)),
    "set_stock_policy": Spec(inv.StockPolicyBody, ("sku", "location_id")),
    "place_order": Spec(o.PlaceOrderBody),
    "record_payment": Spec(o.PaymentBody, ("order_id",)),
    "cancel_order": Spec(o.CancellationBody, ("order_id",)),
    "ship_order": Spec(o.ShipmentBody, ("order_id",)),
    "deliver_shipment": Spec(o.DeliveryBody, ("order_id", "shipment_id")),
    "request_return": Spec(o.ReturnBody, ("order_id",)),
    "receive_return": Spec(o.ReturnReceiptBody, ("order_id", "return_id")),
}


class LineError(Exception):
    def __init__(self, code: str, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.errors = code, detail, errors


def parse_line(text: str) -> tuple[Command, str | None]:
    """The command a line asks for, and its idempotency key; LineError if it is not valid."""
    try:
        fields = json.loads(text)
    except ValueError as error:
        raise LineError("invalid_json", f"not JSON: {error}") from None
    if not isinstance(fields, dict):
        raise LineError("validation_error", "a line must be a JSON object")
    name = fields.pop("command", None)
    spec = SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise LineError("unknown_command", f"command must be one of: {', '.join(SPECS)}")
    key = fields.pop("idempotency_key", None)
    try:
        if key is not None:
            key = _KEY.validate_python(key, strict=True)  # the Idempotency-Key header's rule
        path = {f: (_SKU if f == "sku" else _IDENTIFIER).validate_python(fields.pop(f, None)) for f in spec.path}
        body = spec.body.model_validate(fields)
    except ValidationError as error:
        raise LineError("validation_error", "the command is not valid", field_errors(error.errors())) from None
    command: Command = body.to_command(**path)  # type: ignore[attr-defined]
    return command, key


def run_line(ledger: Ledger, number: int, text: str, base: CommandContext) -> dict[str, Any]:
    try:
        command, key = parse_line(text)
        result = ledger.execute(command, replace(base, idempotency_key=key) if key else base)
    except LineError as error:
        failed: dict[str, Any] = {"line": number, "result": "error", "code": error.code, "detail": error.detail}
        if error.errors:
            failed["errors"] = error.errors
        return failed
    except LedgerError as error:
        return {"line": number, "result": "error", "code": error.code, "detail": error.detail, **error.extra}
    except PersistenceError as error:
        return {"line": number, "result": "error", "code": "database_unavailable", "detail": str(error)}
    return {"line": number, "result": "ok", **result.as_dict()}


def run_lines(ledger: Ledger, lines: Iterable[tuple[int, str]], base: CommandContext) -> Iterator[dict[str, Any]]:
    for number, text in lines:
        if text.strip():
            yield run_line(ledger, number, text, base)
