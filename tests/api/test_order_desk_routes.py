"""The order desk through HTTP: holds and hold rules, edits with dry runs and If-Match, return
review and exchanges, and reading shipments, returns, payments, holds and notes back."""

from __future__ import annotations

from typing import Any

from api.keys import Role
from tests.api.conftest import Api, problem
from tests.projection_helpers import project_all

ORDER = "/v1/orders/o1"


def place(api: Api, lines: list[tuple[str, int, str]] | None = None, **extra: Any) -> None:
    body = {
        "order_id": "o1",
        "channel": "web",
        "customer_id": "C-1",
        "currency": "GBP",
        "lines": [{"sku": s, "quantity": q, "unit_price": p} for s, q, p in lines or [("A", 2, "5.00")]],
        **extra,
    }
    response = api.post("/v1/orders", body)
    assert response.status_code == 201, response.text


def project(api: Api) -> None:
    project_all(api.container.settings.database_url or "")


def head(api: Api) -> int:
    return int(api.container.ledger.recorder.max_notification_id() or 0)


def read(api: Api, path: str, role: Role = Role.SUPPORT) -> Any:
    response = api.client.get(path, headers=api.headers(role))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_hold_refuses_shipping_and_reads_back_with_a_location(stocked: Api) -> None:
    place(stocked)
    held = stocked.post(f"{ORDER}/holds", {"hold_id": "h1", "kind": "fraud", "reason": "odd address"}, Role.SUPPORT)
    assert held.status_code == 201, held.text
    assert held.headers["Location"] == f"{ORDER}/holds/h1"
    before = head(stocked)
    body = problem(stocked.post(f"{ORDER}/shipments", {"shipment_id": "s1"}), 409, "order_on_hold")
    assert body["holds"] == ["h1"] and head(stocked) == before
    project(stocked)
    assert read(stocked, ORDER)["on_hold"] is True
    assert [o["order_id"] for o in read(stocked, "/v1/orders?on_hold=true")["items"]] == ["o1"]
    hold = read(stocked, f"{ORDER}/holds/h1")
    assert (hold["kind"], hold["open"], hold["placed_by"]) == ("fraud", True, "support:support-tester")
    released = stocked.post(f"{ORDER}/holds/h1/release", {"reason": "verified"}, Role.SUPPORT)
    assert released.status_code == 200 and released.json()["on_hold"] is False
    shipped = stocked.post(f"{ORDER}/shipments", {"shipment_id": "s1", "carrier": "DPD", "tracking_number": "T1",
                                                  "tracking_url": "https://track.example/T1"})  # fmt: skip
    assert shipped.status_code == 201 and shipped.headers["Location"] == f"{ORDER}/shipments/s1"
    project(stocked)
    shipment = read(stocked, f"{ORDER}/shipments/s1", Role.INTEGRATOR)
    assert (shipment["tracking_url"], shipment["lines"]) == ("https://track.example/T1", [{"sku": "A", "quantity": 2}])
    problem(stocked.client.get(f"{ORDER}/shipments/nope", headers=stocked.headers()), 404, "shipment_not_found")
    problem(stocked.client.get(f"{ORDER}/holds/nope", headers=stocked.headers()), 404, "hold_not_found")
    problem(stocked.client.get("/v1/orders/nope/shipments", headers=stocked.headers()), 404, "order_not_found")
    timeline = read(stocked, f"{ORDER}/timeline")
    assert any("fraud hold h1 placed (odd address)" in e["summary"] for e in timeline["events"])


def test_hold_rules_are_for_admins_and_name_the_hold_they_place(stocked: Api) -> None:
    rule = {"kind": "payment", "reason": "wait for payment", "unpaid": True, "release": "paid"}
    problem(stocked.put("/v1/hold-rules/pay", rule, Role.SUPPORT), 403, "forbidden")
    problem(stocked.put("/v1/hold-rules/pay", {"kind": "manual", "reason": "x"}, Role.ADMIN), 422, "validation_error")
    assert stocked.put("/v1/hold-rules/pay", rule, Role.ADMIN).status_code == 200
    place(stocked)
    project(stocked)
    assert read(stocked, "/v1/hold-rules")["items"][0]["rule_id"] == "pay"
    assert read(stocked, f"{ORDER}/holds")[0] | {"placed_at": None} == {
        "hold_id": "rule-pay",
        "kind": "payment",
        "reason": "wait for payment",
        "rule_id": "pay",
        "release": "paid",
        "open": True,
        "placed_by": "integrator:integrator-tester",
        "placed_at": None,
        "released_by": None,
        "released_at": None,
        "release_reason": None,
    }
    captured = stocked.post(f"{ORDER}/payments", {"kind": "capture", "amount": "10.00"})
    assert captured.status_code == 200, captured.text
    assert stocked.post(f"{ORDER}/shipments", {}).status_code == 201  # the hold let go when paid
    deleted = stocked.client.request("DELETE", "/v1/hold-rules/pay", json={}, headers=stocked.headers(Role.ADMIN))
    assert deleted.status_code == 200, deleted.text
    gone = stocked.client.request("DELETE", "/v1/hold-rules/pay", headers=stocked.headers(Role.ADMIN))  # no body
    problem(gone, 404, "hold_rule_not_found")


def test_an_edit_dry_run_answers_the_new_totals_and_writes_nothing(stocked: Api) -> None:
    place(stocked)
    before = head(stocked)
    path = f"{ORDER}/lines/A/quantity?dry_run=true"
    dry = stocked.put(path, {"quantity": 5, "reason": "what if"}, Role.SUPPORT, **{"Idempotency-Key": "k1"})
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert (body["dry_run"], body["total"], body["position"], body["version"]) == (True, "25.00", None, 2)
    assert body["stock"] == [{"sku": "A", "location_id": "main", "committed": 3, "backordered": 0}]
    assert head(stocked) == before
    stale = stocked.put(
        f"{ORDER}/lines/A/quantity", {"quantity": 5, "reason": "x"}, Role.SUPPORT, **{"If-Match": '"7"'}
    )
    problem(stale, 412, "precondition_failed")
    keyed = {"If-Match": '"1"', "Idempotency-Key": "k1"}
    done = stocked.put(f"{ORDER}/lines/A/quantity", {"quantity": 5, "reason": "x"}, Role.SUPPORT, **keyed)
    assert done.status_code == 200 and done.json()["total"] == "25.00"  # the key of the dry run was not spent
    problem(stocked.put(f"{ORDER}/lines/A/quantity", {"quantity": 11, "reason": "x"}), 409, "insufficient_stock")
    problem(stocked.put(f"{ORDER}/lines/A/quantity", {"quantity": -1, "reason": "x"}), 422, "validation_error")
    problem(stocked.put(f"{ORDER}/lines/A/quantity", {"quantity": 1}), 422, "validation_error")  # no reason
    problem(stocked.put(f"{ORDER}/lines/Z/quantity", {"quantity": 1, "reason": "x"}), 422, "unknown_line")
    problem(stocked.put(f"{ORDER}/lines/A/quantity", {"quantity": 1, "reason": "x"}, Role.ANALYST), 403, "forbidden")


def test_lines_are_added_and_removed_and_shipped_lines_refuse_edits(stocked: Api) -> None:
    place(stocked)
    added = stocked.post(f"{ORDER}/lines", {"line": {"sku": "B", "quantity": 1, "unit_price": "3.00"},
                                            "reason": "by phone"}, Role.SUPPORT)  # fmt: skip
    assert added.status_code == 201 and added.headers["Location"] == ORDER and added.json()["total"] == "13.00"
    problem(stocked.post(f"{ORDER}/lines", {"line": {"sku": "B", "quantity": 1, "unit_price": "3.00"}, "reason": "x"}),
            409, "already_exists")  # fmt: skip
    removed = stocked.client.request("DELETE", f"{ORDER}/lines/B", json={"reason": "no"}, headers=stocked.headers())
    assert removed.status_code == 200 and removed.json()["total"] == "10.00"
    assert stocked.post(f"{ORDER}/shipments", {}).status_code == 201
    problem(stocked.put(f"{ORDER}/lines/A/quantity", {"quantity": 3, "reason": "x"}), 409, "already_shipped")
    address = {"name": "Ada", "line1": "1 St", "city": "Leeds", "postal_code": "LS1", "country": "GB"}
    problem(stocked.put(f"{ORDER}/ship-to", {"ship_to": address, "reason": "x"}), 409, "already_shipped")


def test_ship_to_and_promises_change_and_read_back(stocked: Api) -> None:
    place(stocked)
    address = {"name": "Ada", "line1": "2 New St", "city": "Leeds", "postal_code": "LS1", "country": "GB"}
    assert stocked.put(f"{ORDER}/ship-to", {"ship_to": address, "reason": "moved"}, Role.SUPPORT).status_code == 200
    dates = {"promised_ship_by": "2026-03-04T17:00:00Z", "reason": "late stock"}
    assert stocked.put(f"{ORDER}/promised-dates", dates, Role.SUPPORT).status_code == 200
    project(stocked)
    body = read(stocked, ORDER)
    assert body["ship_to"]["line1"] == "2 New St" and body["promised_ship_by"].startswith("2026-03-04T17:00")


def test_returns_are_reviewed_received_and_refunded_and_an_exchange_is_held(stocked: Api) -> None:
    place(stocked, [("A", 2, "5.00")])
    assert stocked.post(f"{ORDER}/payments", {"kind": "capture", "amount": "10.00"}).status_code == 200
    assert stocked.post(f"{ORDER}/shipments", {}).status_code == 201
    exchange = {
        "return_id": "r1",
        "approve": False,
        "lines": [{"sku": "A", "quantity": 1, "reason": "too big"}],
        "replacements": [{"sku": "B", "quantity": 1, "unit_price": "7.00"}],
    }
    asked = stocked.post(f"{ORDER}/returns", exchange)
    assert asked.status_code == 201 and asked.headers["Location"] == f"{ORDER}/returns/r1"
    receipt = {"location_id": "main", "lines": [{"sku": "A", "quantity": 1, "disposition": "restock"}]}
    problem(stocked.post(f"{ORDER}/returns/r1/receipt", receipt), 409, "return_not_approved")
    approved = stocked.post(f"{ORDER}/returns/r1/approval", {"reason": "fine"}, Role.SUPPORT)
    assert approved.status_code == 200 and approved.json()["balance_due"] == "7.00"
    assert stocked.post(f"{ORDER}/returns/r1/receipt", receipt).status_code == 200
    project(stocked)
    found = read(stocked, f"{ORDER}/returns/r1")
    assert (found["status"], found["credit"], found["replacements"][0]["sku"]) == ("received", "5.00", "B")
    assert read(stocked, ORDER)["balance_due"] == "2.00"  # 7.00 sent for 5.00 back
    problem(stocked.post(f"{ORDER}/returns/r1/decline", {"reason": "x"}), 409, "invalid_transition")
    problem(stocked.post(f"{ORDER}/returns/nope/approval", {}), 404, "return_not_found")
    payments = read(stocked, f"{ORDER}/payments")
    assert [(p["kind"], p["amount"]) for p in payments] == [("capture", "10.00")]


def test_a_declined_return_cannot_be_refunded(stocked: Api) -> None:
    place(stocked)
    stocked.post(f"{ORDER}/payments", {"kind": "capture", "amount": "10.00"})
    stocked.post(f"{ORDER}/shipments", {})
    stocked.post(f"{ORDER}/returns", {"return_id": "r1", "approve": False,
                                      "lines": [{"sku": "A", "quantity": 1, "reason": "no"}]})  # fmt: skip
    assert stocked.post(f"{ORDER}/returns/r1/decline", {"reason": "worn"}, Role.SUPPORT).status_code == 200
    problem(stocked.post(f"{ORDER}/returns/r1/refund", {}), 409, "return_not_approved")
    problem(stocked.post(f"{ORDER}/returns/r1/decline", {}), 422, "validation_error")  # a reason is required


def test_notes_read_back_numbered_with_a_location(stocked: Api) -> None:
    place(stocked)
    first = stocked.post(f"{ORDER}/notes", {"text": "Gift wrap"}, Role.SUPPORT)
    assert first.status_code == 201 and first.headers["Location"] == f"{ORDER}/notes/1"
    assert stocked.post(f"{ORDER}/notes", {"text": "Called back"}, Role.SUPPORT).headers["Location"].endswith("/2")
    project(stocked)
    assert [n["text"] for n in read(stocked, f"{ORDER}/notes")] == ["Gift wrap", "Called back"]
    assert read(stocked, f"{ORDER}/notes/2")["actor"] == "support:support-tester"
    problem(stocked.client.get(f"{ORDER}/notes/3", headers=stocked.headers(Role.SUPPORT)), 404, "not_found")
    problem(stocked.client.get(f"{ORDER}/notes", headers=stocked.headers(Role.ANALYST)), 403, "forbidden")
    assert [n["number"] for n in read(stocked, ORDER)["notes"]] == [1, 2]


def test_orders_are_found_by_email_though_it_is_sealed_and_not_after_erasure(stocked: Api) -> None:
    address = {"name": "Ada", "line1": "1 St", "city": "Leeds", "postal_code": "LS1", "country": "GB"}
    place(stocked, ship_to={**address, "email": "Ada.Lovelace@Example.com"})
    project(stocked)
    found = read(stocked, "/v1/orders?email=ada.lovelace@example.COM")
    assert [o["order_id"] for o in found["items"]] == ["o1"] and "email_hash" not in found["items"][0]
    assert read(stocked, "/v1/orders?email=grace@example.com")["items"] == []
    denied = stocked.client.get("/v1/orders?email=ada.lovelace@example.com", headers=stocked.headers(Role.ANALYST))
    problem(denied, 403, "forbidden")
    with stocked.container.pool.connection() as conn:  # only a keyed hash is stored, never the address
        stored = conn.execute("SELECT email_hash FROM read.orders").fetchone()
        assert stored is not None and len(stored[0]) == 64 and "example" not in stored[0]
    assert stocked.post("/v1/customers/C-1/erasure", {}, Role.ADMIN).status_code == 200
    assert read(stocked, "/v1/orders?email=ada.lovelace@example.com")["items"] == []
    stocked.post(f"{ORDER}/notes", {"text": "after erasure"}, Role.SUPPORT)  # the row is written again
    project(stocked)
    assert read(stocked, "/v1/orders?email=ada.lovelace@example.com")["items"] == []
    assert read(stocked, "/v1/orders?customer_id=C-1")["items"][0]["order_id"] == "o1"


def test_the_kpis_count_orders_held_and_the_hours_their_holds_were_open(stocked: Api) -> None:
    place(stocked, occurred_at="2026-01-05T09:00:00Z")
    hold = {"hold_id": "h1", "kind": "manual", "reason": "check", "occurred_at": "2026-01-05T10:00:00Z"}
    stocked.post(f"{ORDER}/holds", hold, Role.SUPPORT)
    release = {"reason": "ok", "occurred_at": "2026-01-05T13:30:00Z"}
    stocked.post(f"{ORDER}/holds/h1/release", release, Role.SUPPORT)
    stocked.post(f"{ORDER}/holds", {**hold, "hold_id": "h2", "occurred_at": "2026-01-05T14:00:00Z"}, Role.SUPPORT)
    stocked.post(f"{ORDER}/holds/h2/release", {**release, "occurred_at": "2026-01-05T14:30:00Z"}, Role.SUPPORT)
    stocked.post(f"{ORDER}/holds", {**hold, "hold_id": "h3", "occurred_at": "2026-01-05T15:00:00Z"}, Role.SUPPORT)
    project(stocked)  # h3 is still open: it counts the order as held, and no hours yet
    (row,) = read(stocked, "/v1/kpis/fulfillment?from=2026-01-05&to=2026-01-05", Role.ANALYST)["rows"]
    assert (row["orders_held"], row["hold_hours_total"], row["hold_hours_mean"]) == (1, 4.0, 2.0)


def test_a_received_return_is_refunded_through_its_own_route(stocked: Api) -> None:
    place(stocked)
    stocked.post(f"{ORDER}/payments", {"kind": "capture", "amount": "10.00"})
    stocked.post(f"{ORDER}/shipments", {})
    stocked.post(f"{ORDER}/returns", {"return_id": "r1", "lines": [{"sku": "A", "quantity": 1, "reason": "no"}]})
    receipt = {"location_id": "main", "lines": [{"sku": "A", "quantity": 1, "disposition": "restock"}]}
    assert stocked.post(f"{ORDER}/returns/r1/receipt", receipt).status_code == 200
    problem(stocked.post(f"{ORDER}/returns/r1/refund", {"amount": "5.01"}), 409, "refund_exceeds_return")
    refunded = stocked.post(f"{ORDER}/returns/r1/refund", {"provider": "stripe", "reference": "re_1"})
    assert refunded.status_code == 200, refunded.text
    assert (refunded.json()["refunded"], refunded.json()["return_state"]) == ("5.00", "refunded")
    project(stocked)
    assert read(stocked, f"{ORDER}/payments")[-1] | {"occurred_at": None, "position": None} == {
        "kind": "refund",
        "amount": "5.00",
        "reference": "re_1",
        "provider": "stripe",
        "return_id": "r1",
        "occurred_at": None,
        "position": None,
        "actor": "integrator:integrator-tester",
    }


def test_promised_dates_need_a_zone_and_a_reason(stocked: Api) -> None:
    place(stocked)
    no_zone = {"promised_ship_by": "2026-03-04T17:00:00", "reason": "x"}
    problem(stocked.put(f"{ORDER}/promised-dates", no_zone), 422, "validation_error")
    problem(
        stocked.put(f"{ORDER}/promised-dates", {"promised_ship_by": "2026-03-04T17:00:00Z"}), 422, "validation_error"
    )
    problem(stocked.put("/v1/orders/nope/promised-dates", {"reason": "x"}), 404, "order_not_found")


def test_a_key_learns_its_actor_role_and_the_commands_it_may_send(stocked: Api) -> None:
    support = read(stocked, "/v1/me", Role.SUPPORT)
    assert support["actor"] == "support:support-tester" and support["role"] == "support"
    assert {"add_order_note", "place_hold", "cancel_order", "approve_return"} <= set(support["commands"])
    assert "place_order" not in support["commands"] and "set_hold_rule" not in support["commands"]
    assert read(stocked, "/v1/me", Role.ANALYST)["commands"] == []
    assert "set_hold_rule" in read(stocked, "/v1/me", Role.ADMIN)["commands"]
    problem(stocked.client.get("/v1/me"), 401, "unauthenticated")


def test_operators_see_the_hold_queue_and_each_desk_command_in_the_metrics(stocked: Api) -> None:
    place(stocked)
    stocked.post(f"{ORDER}/holds", {"hold_id": "h1", "kind": "fraud", "reason": "odd"}, Role.SUPPORT)
    stocked.post(f"{ORDER}/shipments", {})  # refused: on hold
    project(stocked)
    lines = stocked.client.get("/metrics").text.splitlines()
    assert "oms_orders_on_hold 1.0" in lines
    assert 'oms_commands_total{command="PlaceHold",result="ok"} 1.0' in lines
    assert 'oms_commands_total{command="ShipOrder",result="order_on_hold"} 1.0' in lines
