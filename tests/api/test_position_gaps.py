"""Positions with a gap, as after a failover: PostgreSQL's sequences are not replicated value by
value, so a promoted standby hands out positions some way past the last one written. Nothing
that follows the ledger may count on consecutive positions, or skip what comes after a gap."""

from __future__ import annotations

from typing import Any

from api.database import ledger_env
from api.keys import Role
from commands import messages as m
from commands.chain_verify import verify
from commands.ledger import Ledger
from projections.admin import head
from tests.api.conftest import Api
from tests.api.test_notifications import drain, notifier
from tests.api.test_webhooks import LOOPBACK, delivering, subscribe, wait_until
from tests.helpers import execute
from tests.projection_helpers import project_all
from tests.receivers import Receiver, smtp_inbox

GAP = 1000
SKIP = "SELECT setval(pg_get_serial_sequence('ledger.ledger_events', 'notification_id'), %s)"


def order(order_id: str, mail: str) -> dict[str, Any]:
    address = {"name": "Ada", "line1": "1 Road", "city": "Leeds", "postal_code": "LS1", "country": "GB"}
    return {
        "order_id": order_id,
        "channel": "web",
        "customer_id": f"C-{order_id}",
        "currency": "GBP",
        "lines": [{"sku": "A", "quantity": 1, "unit_price": "2.00"}],
        "ship_to": {**address, "email": mail},
    }


def test_every_consumer_carries_on_across_a_gap_in_positions(stocked: Api) -> None:
    url = stocked.container.settings.database_url or ""
    stocked.container.settings.webhook_allow_networks = LOOPBACK
    receiver = Receiver().start()
    subscribe(stocked, receiver.url, event_types=["Order.Placed"])
    first = stocked.post("/v1/orders", order("o1", "ada@example.com"))
    assert first.status_code == 201
    project_all(url)  # every consumer has seen the events before the gap
    with smtp_inbox() as (box, port):
        mailer = notifier(stocked, port)
        drain(mailer)
        with delivering(stocked):
            wait_until(lambda: len(receiver.received) == 1)
        with stocked.container.pool.connection() as conn:
            before = head(conn)
            conn.execute(SKIP, (before + GAP,))
        # The service's writer numbers its batches after the head it saved, so the gap comes, as
        # after a failover, from a writer that takes its positions from the sequence.
        other = Ledger(env=ledger_env(url, pool_size=1))
        try:
            execute(other, m.ReceiveStock(sku="A", location_id="main", quantity=1))
        finally:
            other.close()
        second = stocked.post("/v1/orders", order("o2", "bob@example.com"))
        assert second.status_code == 201
        position = second.json()["position"]
        assert position > before + GAP  # the gap is real

        project_all(url)
        read = stocked.client.get(f"/v1/orders/o2?min_position={position}", headers=stocked.headers(Role.ANALYST))
        assert read.status_code == 200, read.text
        feed = stocked.client.get(f"/v1/events?after={before}&types=Order.Placed", headers=stocked.headers()).json()
        assert [e["order_id"] for e in feed["items"]] == ["o2"]
        with delivering(stocked):
            wait_until(lambda: len(receiver.received) == 2)
        assert before + GAP < int(receiver.received[-1].headers["webhook-id"]) <= position
        drain(mailer)
        assert len(box.to("ada@example.com")) == 1 and len(box.to("bob@example.com")) == 1
    receiver.stop()
    with stocked.container.pool.connection() as conn:
        verification = verify(conn)
        assert verification.ok and verification.position == head(conn) == position
