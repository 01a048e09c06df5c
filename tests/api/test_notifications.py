"""Customer emails through a local SMTP server (aiosmtpd): the right emails, in the customer's
language, once each even when the notifier starts again, none after erasure or an opt-out; and
the tracking page their links open."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr

from api.keys import Role
from api.notifications.notifier import Notifier
from api.outbound import notifier as make_notifier
from api.routers.tracking import WORDS
from domain.orders import OrderStatus
from tests.api.conftest import Api, free_port, problem
from tests.projection_helpers import project_all
from tests.receivers import Inbox, smtp_inbox


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as box:
        yield box


def notifier(api: Api, port: int) -> Notifier:
    settings = api.container.settings.model_copy(
        update={
            "smtp_url": SecretStr(f"smtp://127.0.0.1:{port}"),
            "public_url": "https://shop.example",
            "shop_name": "Mugs & Co",
        }
    )
    made = make_notifier(settings, settings.database_url or "", api.container.ledger, api.container.metrics)
    assert made is not None
    return made


def drain(n: Notifier) -> None:
    with psycopg.connect(n.url, autocommit=True) as conn:
        while n.run_once(conn, batch_size=3):
            pass


def place(api: Api, order_id: str, customer: str, mail: str, occurred_at: str | None = None, **ship_to: str) -> None:
    address = {
        "name": "Ada <b>",
        "line1": "1 Road",
        "city": "Leeds",
        "postal_code": "LS1",
        "country": "GB",
        "email": mail,
    }
    body = {
        "order_id": order_id,
        "channel": "web",
        "customer_id": customer,
        "currency": "GBP",
        "lines": [{"sku": "A", "quantity": 2, "unit_price": "7.50"}],
        "ship_to": {**address, **ship_to},
        **({"occurred_at": occurred_at} if occurred_at else {}),
    }
    assert api.post("/v1/orders", body).status_code == 201


def text_of(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def html_of(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_each_event_emails_its_customer_once_in_their_language(stocked: Api, inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    place(stocked, "o1", "C-1", "ada@example.com")
    place(stocked, "o2", "C-2", "bert@example.de", language="de-DE")
    stocked.post("/v1/orders/o1/payments", {"kind": "capture", "amount": "15.00"})
    tracking = {
        "shipment_id": "s1",
        "carrier": "DPD",
        "tracking_number": "TN-1",
        "tracking_url": "https://dpd.example/TN-1",
    }
    assert (
        stocked.post("/v1/orders/o1/shipments", {**tracking, "lines": [{"sku": "A", "quantity": 1}]}).status_code == 201
    )
    assert stocked.post("/v1/orders/o1/shipments/s1/delivery", {}).status_code == 200
    assert stocked.post("/v1/orders/o1/cancellation", {"reason": "out of stock"}).status_code == 200
    assert stocked.post("/v1/orders/o1/payments", {"kind": "refund", "amount": "7.50"}).status_code == 200
    assert stocked.post("/v1/orders/o2/shipments", {"shipment_id": "s2", "carrier": "DHL"}).status_code == 201
    drain(notifier(stocked, port))
    ada = [m["Subject"] for m in box.to("ada@example.com")]
    assert ada == [
        "Your order o1 is confirmed",
        "Your order o1 has shipped",
        "Your order o1 was delivered",
        "Items of your order o1 were cancelled",
        "A refund for your order o1",
    ]
    shipped = box.to("ada@example.com")[1]
    assert "TN-1" in text_of(shipped) and "https://dpd.example/TN-1" in html_of(shipped)
    assert "Ada &lt;b&gt;" in html_of(shipped) and "Ada <b>" in text_of(shipped)  # autoescaped in HTML only
    assert "7.50 GBP" in text_of(box.to("ada@example.com")[4])
    bert = box.to("bert@example.de")
    assert [m["Subject"] for m in bert] == ["Ihre Bestellung o2 ist bestätigt", "Ihre Bestellung o2 ist unterwegs"]
    assert bert[0]["Content-Language"] == "de"
    # Started again from its committed position: nothing is sent twice.
    drain(notifier(stocked, port))
    assert len(box.messages) == 7
    assert len({m["Message-ID"] for m in box.messages}) == 7
    # The tracking link opens the order's page without a key, and nothing else.
    link = re.search(r"https://shop\.example(/track/o1\?t=[0-9a-f]+)", text_of(shipped))
    assert link is not None
    project_all(stocked.container.settings.database_url or "")
    stocked.container.settings.shop_name = "Mugs & Co"
    page = stocked.client.get(link.group(1))
    assert page.status_code == 200 and "TN-1" in page.text and "https://dpd.example/TN-1" in page.text
    assert "Ada" not in page.text and "Leeds" not in page.text and "Mugs &amp; Co" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    wrong = link.group(1)[:-1] + ("1" if link.group(1).endswith("0") else "0")
    problem(stocked.client.get(wrong), 404, "order_not_found")
    assert set(WORDS) == {s.value for s in OrderStatus}
    problem(stocked.client.get(link.group(1).replace("/o1?", "/o2?")), 404, "order_not_found")
    problem(stocked.client.get("/track/o1"), 422, "validation_error")
    metrics = stocked.client.get("/metrics").text
    assert 'oms_notifications_total{kind="shipped",result="sent"} 2.0' in metrics


def test_no_email_after_erasure_or_an_opt_out(stocked: Api, inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    place(stocked, "o1", "C-1", "ada@example.com")
    place(stocked, "o2", "C-2", "bert@example.com")
    place(stocked, "o3", "C-3", "cleo@example.com")
    place(stocked, "old", "C-4", "dora@example.com", occurred_at="2020-01-01T00:00:00Z")  # an import of history
    n = notifier(stocked, port)
    drain(n)
    assert len(box.messages) == 3 and not box.to("dora@example.com")
    assert stocked.post("/v1/customers/C-1/erasure", {}, Role.ADMIN).status_code == 200
    opt = stocked.put("/v1/customers/C-2/notifications", {"email": False}, Role.SUPPORT)
    assert opt.status_code == 200 and opt.json()["email"] is False
    problem(stocked.put("/v1/customers/C-2/notifications", {"email": False}, Role.ANALYST), 403, "forbidden")
    for order_id in ("o1", "o2", "o3"):
        stocked.post(f"/v1/orders/{order_id}/shipments", {"shipment_id": "s", "carrier": "DPD"})
    drain(n)
    assert [m["To"] for m in box.messages[3:]] == ["cleo@example.com"]
    with psycopg.connect(n.url) as conn:
        results = dict(
            conn.execute("SELECT order_id, result FROM ledger.notifications_sent WHERE kind = 'shipped'").fetchall()
        )
    assert results == {"o1": "erased", "o2": "opted_out", "o3": "sent"}
    with psycopg.connect(n.url) as conn:
        assert conn.execute("SELECT result FROM ledger.notifications_sent WHERE order_id = 'old'").fetchall() == [
            ("stale",)
        ]
    sent = stocked.client.get("/v1/orders/o2/notifications", headers=stocked.headers(Role.SUPPORT)).json()["items"]
    assert [(e["kind"], e["result"]) for e in sent] == [("confirmed", "sent"), ("shipped", "opted_out")]
    problem(stocked.client.get("/v1/orders/o2/notifications", headers=stocked.headers(Role.ANALYST)), 403, "forbidden")
    back = stocked.put("/v1/customers/C-2/notifications", {"email": True}, Role.SUPPORT).json()
    assert back["email"] is True and back["opted_out_at"] is None


def test_a_mail_server_that_is_away_holds_the_email_until_it_is_back(stocked: Api) -> None:
    port = free_port()
    place(stocked, "o1", "C-1", "ada@example.com")
    n = notifier(stocked, port)
    from api.notifications.mailer import TryLater

    with pytest.raises(TryLater), psycopg.connect(n.url, autocommit=True) as conn:
        n.run_once(conn)
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        drain(n)
    finally:
        controller.stop()
    assert [m["Subject"] for m in box.messages] == ["Your order o1 is confirmed"]


def test_a_notifier_that_dies_mid_batch_sends_nothing_twice(stocked: Api, inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    for n in range(5):
        place(stocked, f"o{n}", f"C-{n}", f"c{n}@example.com")
    n = notifier(stocked, port)
    send = n.mailer.send
    calls = 0

    def dies_on_the_third(message: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the process is killed")
        send(message)

    n.mailer.send = dies_on_the_third  # type: ignore[method-assign]
    with pytest.raises(RuntimeError), psycopg.connect(n.url, autocommit=True) as conn:
        n.run_once(conn, batch_size=100)  # one batch: the crash comes in its middle
    assert len(box.messages) == 2
    drain(notifier(stocked, port))  # a new process
    assert sorted(m["To"] for m in box.messages) == [f"c{i}@example.com" for i in range(5)]
