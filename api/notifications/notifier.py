"""The notifier: follows the ledger and emails customers about their orders, once per event.

For each event that means an email (placed: confirmed; shipped; delivered; cancelled;
refunded), in ledger order, it opens the order's sealed ship-to with the customer's key,
renders the email in the customer's language and sends it; then, in one transaction, it
records the send (``ledger.notifications_sent``, keyed by position and kind) and moves its
position past the event. A crash before that commit sends the same email again, with the
same Message-ID; after it, never. An erased customer (key gone), one who opted out, and an
order with no email get no email, and that is recorded too. A server that cannot take the
email now holds the queue and is tried again, with backoff, until it can.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper
from psycopg import Connection, sql
from psycopg.rows import dict_row

from api.notifications import store
from api.notifications.mailer import Mailer, Refused, TryLater
from api.notifications.render import Renderer
from api.notifications.tracking import link, load_key
from api.stream_states import StreamStates
from api.webhooks.documents import order_state, plain
from commands.eventstore.names import CHANNEL
from commands.ledger import Ledger
from commands.personal_data import Disclosure
from domain.orders import Order
from projections.events import Recorded, decode
from projections.runner import LAST, POSITIONS, SELECT_EVENTS, WRITE_POSITION, AdvisoryLock, Busy, lock_key

log = logging.getLogger(__name__)

NAME = "notifications"  # its row in read.projection_positions, and its lock
KIND_OF = {
    "Order.Placed": "confirmed",
    "Order.Shipped": "shipped",
    "Order.Delivered": "delivered",
    "Order.Cancelled": "cancelled",
    "Order.PaymentRefunded": "refunded",
}
_READ_POSITION = sql.SQL("SELECT position FROM {} WHERE name = %s").format(POSITIONS)


@dataclass(frozen=True, slots=True)
class Outcome:
    result: str  # sent, opted_out, erased, no_email, refused, stale
    detail: str | None = None
    message_id: str | None = None


class Notifier:
    def __init__(
        self,
        url: str,
        ledger: Ledger,
        mapper: Mapper[UUID],
        mailer: Mailer,
        renderer: Renderer,
        *,
        public_url: str,
        shop_name: str,
        observer: Any = None,
        retry_base_seconds: float = 5.0,
        poll_seconds: float = 1.0,
        max_age: timedelta = timedelta(hours=72),
    ) -> None:
        self.url = url
        self.mapper = mapper
        self.personal_data = ledger.personal_data
        self.states = StreamStates(ledger)
        self.mailer, self.renderer = mailer, renderer
        self.public_url, self.shop_name = public_url, shop_name
        self.observer = observer
        self.retry_base_seconds = retry_base_seconds
        self.poll_seconds = poll_seconds
        self.max_age = max_age
        self._key: bytes | None = None

    def run_forever(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                with (
                    AdvisoryLock(self.url, lock_key(NAME)),
                    psycopg.connect(self.url, autocommit=True) as conn,
                    psycopg.connect(self.url, autocommit=True) as listener,
                ):
                    listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    while not stop.is_set():
                        while self.run_once(conn) and not stop.is_set():
                            failures = 0
                        for _ in listener.notifies(timeout=self.poll_seconds, stop_after=1):
                            pass
            except Busy:
                stop.wait(self.poll_seconds)
            except TryLater as error:
                failures += 1
                delay = min(600.0, self.retry_base_seconds * 2 ** (failures - 1))
                log.warning(
                    "the mail server cannot take an email now (try %d, again in %.0f s): %s", failures, delay, error
                )
                stop.wait(delay)
            except psycopg.OperationalError as error:
                log.warning("notifier lost its database connection: %s", error)
                stop.wait(self.poll_seconds)

    def run_once(self, conn: Connection[Any], batch_size: int = 500) -> int:
        """Handle the next events, up to ``batch_size``; how many (0: caught up). TryLater leaves
        the email that could not go, and everything after it, for the next call. ``conn`` is in
        autocommit mode: each send commits with its position in a transaction of its own."""
        row = conn.execute(_READ_POSITION, (NAME,)).fetchone()
        position = row[0] if row else 0
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(SELECT_EVENTS, (position, LAST, batch_size)).fetchall()
        if not rows:
            return 0
        done = rows[-1]["notification_id"]
        # Only orders' events make or shape an email: the rest are not decoded.
        for recorded in decode(self.mapper, [row for row in rows if ":Order." in row["topic"]]):
            kind = KIND_OF.get(recorded.kind)
            state = self.states.after(recorded, needed=kind is not None)
            if kind is not None and isinstance(state, Order):
                self._notify(conn, recorded, kind, state)  # commits the send with the position
        with conn.transaction():
            conn.execute(WRITE_POSITION, (NAME, done))
        return len(rows)

    def _notify(self, conn: Connection[Any], recorded: Recorded, kind: str, order: Order) -> None:
        if conn.execute(store.RECORDED, (recorded.position, kind)).fetchone() is not None:
            return  # sent before a crash that came after its commit: never again
        outcome = self._send(conn, recorded, kind, order)
        with conn.transaction():
            conn.execute(
                store.RECORD,
                (
                    recorded.position,
                    kind,
                    order.order_id,
                    order.customer_id,
                    outcome.result,
                    outcome.detail,
                    outcome.message_id,
                ),
            )
            conn.execute(WRITE_POSITION, (NAME, recorded.position))
        if self.observer is not None:
            self.observer.notified(kind, outcome.result)
        log.info("email %s for order %s (position %d): %s", kind, order.order_id, recorded.position, outcome.result)

    def _send(self, conn: Connection[Any], recorded: Recorded, kind: str, order: Order) -> Outcome:
        if recorded.event.occurred_at < datetime.now(UTC) - self.max_age:
            return Outcome("stale", "it happened too long ago to tell the customer now (an import?)")
        if store.opted_out(conn, order.customer_id) is not None:
            return Outcome("opted_out")
        revealed = self.personal_data.reveal(order.customer_id, order.personal_data)
        if revealed.disclosure is Disclosure.ERASED:
            return Outcome("erased")
        contact = revealed.data or {}
        if revealed.disclosure is not Disclosure.PRESENT or not contact.get("email"):
            return Outcome("no_email")
        email = self.renderer.render(kind, contact.get("language"), self._context(conn, recorded, order, contact))
        message_id = f"<oms.{recorded.position}.{kind}@{self.mailer.sender.rsplit('@', 1)[-1].strip('>')}>"
        try:
            self.mailer.send(self.mailer.message(str(contact["email"]), email, message_id))
        except Refused as error:
            return Outcome("refused", str(error), message_id)
        return Outcome("sent", None, message_id)

    def _context(
        self, conn: Connection[Any], recorded: Recorded, order: Order, contact: dict[str, Any]
    ) -> dict[str, Any]:
        if self._key is None:
            self._key = load_key(conn)
        event = recorded.event
        state = order_state(order)
        shipment_id = getattr(event, "shipment_id", None)
        shipment = next((s for s in state["shipments"] if s["shipment_id"] == shipment_id), None)
        return {
            "order": state,
            "name": contact.get("name") or "",
            "shop_name": self.shop_name,
            "tracking_url": link(self.public_url, self._key, order.order_id),
            "shipment": shipment or {},
            "cancelled": [{"sku": c.sku, "quantity": c.quantity} for c in getattr(event, "lines", ())]
            if recorded.kind == "Order.Cancelled"
            else [],
            "amount": plain(getattr(event, "amount", None)),
        }
