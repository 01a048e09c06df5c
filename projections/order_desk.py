"""The order desk's read model: an order's shipments, returns, payments, holds and notes as JSON
documents beside its row, and the hold rules. Built from the same folded Order as the orders row."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from domain.hold_rules import HoldRules
from domain.orders import Order
from projections.base import Tables
from projections.events import Recorded

DOCUMENTS = ("shipments", "returns", "payments", "holds", "notes")
PAYMENT_KINDS = {
    "Order.PaymentAuthorized": "authorization",
    "Order.PaymentCaptured": "capture",
    "Order.PaymentVoided": "void",
    "Order.PaymentRefunded": "refund",
}
RULE_COLUMNS = ("rule_id", "kind", "reason", "above", "currency", "channel", "unpaid", "release", "updated_at")


def create(cur: Cursor[Any], t: Tables) -> None:
    cur.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (order_id text PRIMARY KEY, {})").format(
            t["order_desk"],
            sql.SQL(", ").join(sql.SQL("{} jsonb NOT NULL").format(sql.Identifier(d)) for d in DOCUMENTS),
        )
    )
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (rule_id text PRIMARY KEY, kind text NOT NULL, reason text NOT NULL,"
            " above numeric, currency text, channel text, unpaid boolean NOT NULL, release text NOT NULL,"
            " updated_at timestamptz NOT NULL)"
        ).format(t["hold_rules"])
    )


def remember_payment(extra: dict[str, Any], recorded: Recorded) -> None:
    """Payments are events, not state: each is kept in the order's extras as it is folded."""
    kind = PAYMENT_KINDS.get(recorded.kind)
    if kind is None:
        return
    event = recorded.event
    extra["payments"] = [
        *extra.get("payments", ()),
        {
            "kind": kind,
            "amount": str(event.amount),
            "reference": event.reference,
            "provider": event.provider,
            "return_id": getattr(event, "return_id", None),
            "occurred_at": event.occurred_at.isoformat(),
            "position": recorded.position,
            "actor": event.actor,
        },
    ]


def documents(order: Order, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "shipments": Jsonb([shipment_document(k, s) for k, s in order.shipments.items()]),
        "returns": Jsonb([_return(k, r) for k, r in order.returns.items()]),
        "payments": Jsonb(list(extra.get("payments", ()))),
        "holds": Jsonb([_hold(k, h) for k, h in order.holds.items()]),
        "notes": Jsonb(
            [
                {"number": n, "text": note.text, "actor": note.actor, "added_at": _time(note.added_at)}
                for n, note in enumerate(order.notes, start=1)
            ]
        ),
    }


def save(cur: Cursor[Any], t: Tables, rows: list[dict[str, Any]]) -> None:
    columns = ["order_id", *DOCUMENTS]
    cur.executemany(
        sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (order_id) DO UPDATE SET {}").format(
            t["order_desk"],
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
            sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in DOCUMENTS),
        ),
        rows,
    )


def apply_rules(cur: Cursor[Any], batch: list[Recorded], t: Tables) -> None:
    for recorded in batch:
        event = recorded.event
        if isinstance(event, HoldRules.RuleSet):
            rule = event.rule
            values = (
                event.rule_id,
                rule.kind.value,
                rule.reason,
                rule.above,
                rule.currency,
                rule.channel,
                rule.unpaid,
                rule.release.value,
                event.occurred_at,
            )
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (rule_id) DO UPDATE SET {}").format(
                    t["hold_rules"],
                    sql.SQL(", ").join(map(sql.Identifier, RULE_COLUMNS)),
                    sql.SQL(", ").join(sql.Placeholder() for _ in RULE_COLUMNS),
                    sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in RULE_COLUMNS),
                ),
                values,
            )
        elif isinstance(event, HoldRules.RuleRemoved):
            cur.execute(sql.SQL("DELETE FROM {} WHERE rule_id = %s").format(t["hold_rules"]), (event.rule_id,))


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal) -> str:
    return str(value)


def shipment_document(shipment_id: str, s: Any) -> dict[str, Any]:
    return {
        "shipment_id": shipment_id,
        "location_id": s.location_id,
        "carrier": s.carrier,
        "tracking_number": s.tracking_number,
        "tracking_url": s.tracking_url,
        "lines": [{"sku": sku, "quantity": q} for sku, q in sorted(s.lines.items())],
        "shipped_at": _time(s.shipped_at),
        "delivered_at": _time(s.delivered_at),
    }


def _return(return_id: str, r: Any) -> dict[str, Any]:
    return {
        "return_id": return_id,
        "status": r.status,
        "lines": [
            {"sku": sku, "requested": line.requested, "received": line.received, "reason": line.reason}
            for sku, line in sorted(r.lines.items())
        ],
        "replacements": [
            {"sku": a.sku, "quantity": a.quantity, "unit_price": _money(a.unit_price)} for a in r.replacements
        ],
        "credit": _money(r.credit),
        "fee": _money(r.fee),
        "refunded": _money(r.refunded),
        "refund_due": _money(r.refund_due),
        "decision_reason": r.decision_reason,
    }


def _hold(hold_id: str, h: Any) -> dict[str, Any]:
    return {
        "hold_id": hold_id,
        "kind": h.kind.value,
        "reason": h.reason,
        "rule_id": h.rule_id,
        "release": h.release.value,
        "open": h.is_open,
        "placed_by": h.placed_by,
        "placed_at": _time(h.placed_at),
        "released_by": h.released_by,
        "released_at": _time(h.released_at),
        "release_reason": h.release_reason,
    }
