"""What leaves the ledger, without I/O: signatures, targets, which deliveries may go, emails
rendered, SMTP addresses, export encodings."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from standardwebhooks.webhooks import Webhook

from api.errors import WebhookTargetRefused
from api.exports import encode, model_schema
from api.notifications.mailer import SmtpServer
from api.notifications.render import Renderer
from api.webhooks.deliver import GuardedResolver, Policy, heads, sign
from api.webhooks.store import Subscription
from api.webhooks.targets import check, check_addresses, host_of, networks

# The Standard Webhooks specification's own example.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
PAYLOAD = b'{"test": 2432232314}'
AT = datetime.fromtimestamp(1614265330, UTC)


def test_signatures_match_the_specifications_vector_and_both_secrets_sign_during_a_rotation() -> None:
    assert sign([SECRET], MSG_ID, AT, PAYLOAD) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    newer = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    both = sign([newer, SECRET], MSG_ID, AT, PAYLOAD)
    assert both.split(" ")[1] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    now = datetime.now(UTC)
    headers = {"webhook-id": "7", "webhook-timestamp": str(int(now.timestamp()))}
    headers["webhook-signature"] = sign([newer, SECRET], "7", now, PAYLOAD)
    for secret in (newer, SECRET):  # a receiver with either secret accepts it
        assert Webhook(secret).verify(PAYLOAD, headers) == {"test": 2432232314}


def test_a_rotated_subscription_signs_with_the_old_secret_too_until_its_grace_ends() -> None:
    now = datetime.now(UTC)
    rotated = Subscription(
        "wh_1",
        "https://x",
        None,
        None,
        None,
        "",
        "whsec_new",
        SECRET,
        now + timedelta(hours=1),
        False,
        3,
        0,
        "a",
        now,
        now,
    )
    assert rotated.secrets_at(now) == ["whsec_new", SECRET]
    assert rotated.secrets_at(now + timedelta(hours=2)) == ["whsec_new"]


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.0.0.1", False),
        ("192.168.1.20", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
    ],
)
def test_only_public_addresses_are_targets_unless_a_network_is_allowed(address: str, allowed: bool) -> None:
    if allowed:
        check_addresses("h", [address], ())
    else:
        with pytest.raises(WebhookTargetRefused):
            check_addresses("h", [address], ())
    check_addresses("h", [address], networks("10.0.0.0/8, 0.0.0.0/0, ::/0"))


def test_a_target_is_http_or_https_without_credentials() -> None:
    assert host_of("https://example.com/x") == ("example.com", 443)
    assert host_of("http://example.com:8080/x") == ("example.com", 8080)
    for url in ("ftp://example.com/", "https://user:pw@example.com/", "https:///x", "http://example.com:99999/"):
        with pytest.raises(WebhookTargetRefused):
            host_of(url)
    with pytest.raises(WebhookTargetRefused):
        check_addresses("h", ["127.0.0.1", "93.184.216.34"], ())  # one private address is enough
    with pytest.raises(WebhookTargetRefused, match="does not resolve"):
        check("https://" + "a" * 70 + ".example/", ())  # IDNA refuses a label over 63 characters


def test_a_name_is_checked_as_it_is_resolved_for_the_connection() -> None:
    async def resolve(allowed: str, host: str = "localhost") -> list[str]:
        resolver = GuardedResolver(networks(allowed))
        try:
            return [str(r["host"]) for r in await resolver.resolve(host, 80)]
        finally:
            await resolver.close()

    with pytest.raises(WebhookTargetRefused, match="not a public address"):
        asyncio.run(resolve(""))
    assert "127.0.0.1" in asyncio.run(resolve("127.0.0.0/8, ::1/128"))
    with pytest.raises(WebhookTargetRefused, match="does not resolve"):
        asyncio.run(resolve("", "no-such-host.invalid"))


STREAMS = [uuid.UUID(int=n) for n in range(4)]


@given(
    st.lists(st.tuples(st.sampled_from(STREAMS), st.booleans()), max_size=30),
    st.sets(st.sampled_from(STREAMS)),
    st.integers(min_value=1, max_value=5),
)
def test_only_each_streams_first_pending_delivery_goes_and_only_when_due(
    rows: list[tuple[uuid.UUID, bool]], busy: set[uuid.UUID], room: int
) -> None:
    pending = [(position, stream, due) for position, (stream, due) in enumerate(rows, start=1)]
    picked, _ = heads(pending, busy, room)
    assert len(picked) <= room
    first = {}
    for position, stream, due in pending:
        first.setdefault(stream, (position, due))
    for position in picked:
        stream = next(s for p, s, _ in pending if p == position)
        assert stream not in busy, "a stream with a delivery in flight sent another"
        assert first[stream] == (position, True), "a delivery went before an earlier one of its stream"


def test_retries_back_off_doubling_with_jitter_to_a_cap() -> None:
    policy = Policy(retry_base_seconds=5, retry_cap_seconds=60)
    for attempt, top in ((1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (30, 60)):
        delays = [policy.backoff(attempt) for _ in range(50)]
        assert all(top / 2 <= d <= top for d in delays)


def test_emails_fall_back_to_the_primary_language_then_english_and_escape_html_only() -> None:
    renderer = Renderer()
    assert renderer.languages("de-CH") == ["de-ch", "de", "en"]
    order = {"order_id": "A-1", "lines": [], "total": "1.00", "currency": "EUR", "status": "pending"}
    context = {"order": order, "name": "<Ada>", "tracking_url": "https://t/x", "shop_name": "S", "shipment": {}}
    german = renderer.render("confirmed", "de-CH", context)
    assert german.language == "de" and german.subject == "Ihre Bestellung A-1 ist bestätigt"
    assert "Hallo <Ada>" in german.text and "Hallo &lt;Ada&gt;" in german.html
    english = renderer.render("delivered", "de", {**context, "shipment": {"carrier": "DPD"}})
    assert english.language == "en" and "from DPD" in english.text  # no German template for it
    with pytest.raises(Exception, match="undefined"):
        renderer.render("refunded", None, context)  # the amount is missing: fail, do not send a blank


def test_a_retailers_template_replaces_the_shipped_one_and_the_rest_stay(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "confirmed.txt").write_text(
        '{% extends "en/base.txt" %}{% block subject %}Thanks from {{ shop_name }}{% endblock %}'
        "{% block body %}Order {{ order.order_id }} is ours now.{% endblock %}"
    )
    renderer = Renderer(tmp_path)
    order = {"order_id": "A-1", "lines": [], "total": "1.00", "currency": "EUR"}
    context = {"order": order, "name": "Ada", "tracking_url": "https://t/x", "shop_name": "Mugs", "shipment": {}}
    mine = renderer.render("confirmed", "en", context)
    assert mine.subject == "Thanks from Mugs" and mine.text.startswith("Order A-1 is ours now.")
    assert "Thank you" not in mine.text and "thank you for your order" in mine.html  # the shipped HTML stays
    delivered = renderer.render("delivered", "en", {**context, "shipment": {"carrier": None}})
    assert delivered.subject == "Your order A-1 was delivered"


def test_smtp_addresses() -> None:
    assert SmtpServer.from_url("smtp://relay") == SmtpServer("relay", 25, "none")
    assert SmtpServer.from_url("smtp+starttls://u%40x:p@mail:2525") == SmtpServer("mail", 2525, "starttls", "u@x", "p")
    assert SmtpServer.from_url("smtps://mail").port == 465
    with pytest.raises(ValueError, match="OMS_SMTP_URL"):
        SmtpServer.from_url("http://mail")


class Row(BaseModel):
    id: str
    amount: Decimal
    at: datetime | None
    count: int
    extra: dict[str, int]


def test_parquet_columns_are_typed_from_the_row_model_and_rows_stream_in_groups() -> None:
    rows = [("a", Decimal("1.25"), datetime(2026, 1, 1, tzinfo=UTC), 1, {"x": 1}), ("b", Decimal(0), None, 2, {})]
    data = b"".join(
        encode("application/vnd.apache.parquet", ["id", "amount", "at", "count", "extra"], model_schema(Row), rows)
    )
    table = pq.read_table(io.BytesIO(data))
    assert table.to_pylist()[0] == {
        "id": "a",
        "amount": Decimal("1.250000000"),
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "count": 1,
        "extra": '{"x": 1}',
    }
    empty = b"".join(encode("application/vnd.apache.parquet", ["id"], model_schema(Row), []))
    assert pq.read_table(io.BytesIO(empty)).num_rows == 0
    text = b"".join(encode("text/csv", ["id", "count"], model_schema(Row), [("a", 1), ("b", None)])).decode()
    assert text.splitlines() == ["id,count", "a,1", "b,"]
