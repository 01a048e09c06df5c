"""One error hierarchy for every rule the ledger enforces.

Each error carries a stable machine ``code``; its base class says which kind of
failure it is, and the API maps those kinds to HTTP statuses in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""

    code: ClassVar[str] = "ledger_error"
    title: ClassVar[str] = "Ledger error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = extra

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross to HTTP worker processes as pickles; rebuilding through __init__ would
        # fail for subclasses that take other arguments, so the state is restored as it was.
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(kind: type[LedgerError], args: tuple[Any, ...]) -> LedgerError:
    return kind.__new__(kind, *args)


class InvalidCommand(LedgerError):
    """The command is malformed or breaks a rule about its own values."""

    code = "validation_error"
    title = "Invalid command"


class OccurredInFuture(InvalidCommand):
    code = "occurred_at_in_future"
    title = "Business time is in the future"


class UnknownLine(InvalidCommand):
    code = "unknown_line"
    title = "The order has no such line"


class NotFound(LedgerError):
    """A resource the command names does not exist."""

    code = "not_found"
    title = "Not found"


class UnknownLocation(NotFound):
    code = "unknown_location"
    title = "Unknown location"


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "Order not found"


class StockItemNotFound(NotFound):
    code = "stock_item_not_found"
    title = "Stock item not found"


class TransferNotFound(NotFound):
    code = "transfer_not_found"
    title = "Transfer not found"


class ShipmentNotFound(NotFound):
    code = "shipment_not_found"
    title = "Shipment not found"


class ReturnNotFound(NotFound):
    code = "return_not_found"
    title = "Return not found"


class RuleViolation(LedgerError):
    """The command is well formed but the current state forbids it."""

    code = "rule_violation"
    title = "Business rule violated"


class AlreadyExists(RuleViolation):
    code = "already_exists"
    title = "Already exists"


class InvalidTransition(RuleViolation):
    code = "invalid_transition"
    title = "Invalid state transition"


class InsufficientStock(RuleViolation):
    code = "insufficient_stock"
    title = "Insufficient stock"

    def __init__(self, detail: str, skus: Iterable[str]) -> None:
        self.skus = sorted(set(skus))
        super().__init__(detail, skus=self.skus)


class OrderOnHold(RuleViolation):
    """An open hold stops the order's shipments until it is released."""

    code = "order_on_hold"
    title = "The order is on hold"


class AlreadyShipped(RuleViolation):
    """An edit names units that have left the warehouse: a return is the way back."""

    code = "already_shipped"
    title = "Already shipped"


class ReturnNotApproved(RuleViolation):
    """A requested return is received or refunded only after it is approved."""

    code = "return_not_approved"
    title = "The return is not approved"


class HoldNotFound(NotFound):
    code = "hold_not_found"
    title = "Hold not found"


class HoldRuleNotFound(NotFound):
    code = "hold_rule_not_found"
    title = "Hold rule not found"


class PaymentRejected(RuleViolation):
    """Base of the payment limits; each says which limit the payment would break."""

    code = "payment_rejected"
    title = "Payment breaks the payment ledger's rules"


class AuthorizationExceedsTotal(PaymentRejected):
    code = "authorization_exceeds_total"
    title = "Authorization above the order's total"


class CaptureExceedsTotal(PaymentRejected):
    code = "capture_exceeds_total"
    title = "Capture above the order's total"


class VoidExceedsOpenAuthorization(PaymentRejected):
    code = "void_exceeds_open_authorization"
    title = "Void above the open authorization"


class RefundExceedsCaptured(PaymentRejected):
    code = "refund_exceeds_captured"
    title = "Refund above what was captured"


class RefundExceedsReturn(PaymentRejected):
    code = "refund_exceeds_return"
    title = "Refund above what the return is owed"


class ConcurrencyError(LedgerError):
    """Base of the errors about competing writers."""

    code = "concurrency_error"
    title = "Concurrency error"


class VersionConflict(ConcurrencyError):
    code = "version_conflict"
    title = "Version conflict"


class StaleVersion(ConcurrencyError):
    """The caller's expected version (``If-Match``) is no longer current."""

    code = "precondition_failed"
    title = "Stale version"

    def __init__(self, detail: str, expected: int, actual: int) -> None:
        super().__init__(detail, expected=expected, actual=actual)


class IdempotencyKeyReused(LedgerError):
    code = "idempotency_key_reused"
    title = "Idempotency key reused with another command"


class IdempotencyRecordUntrusted(LedgerError):
    """The stored record of the command's key failed its seal: the command may have run, so it is
    neither run again nor answered from the record. An operator must look (``oms audit verify``)."""

    code = "idempotency_record_untrusted"
    title = "The stored record of this idempotency key failed its integrity check"


def describe(error: LedgerError) -> Mapping[str, Any]:
    """The error as plain data, for logs and bulk-import results."""
    return {"code": error.code, "title": error.title, "detail": error.detail, **error.extra}
