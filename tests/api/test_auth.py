"""API keys and roles."""

from __future__ import annotations

import pytest

from api.keys import Role
from tests.api.conftest import Api, problem

LOCATION = {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1}


def test_a_request_without_a_key_is_refused(api: Api) -> None:
    response = api.client.post("/v1/locations", json=LOCATION)
    problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer oms_nope_nope", "Bearer ", "Basic abc", "oms_x_y", "Bearer garbage"])
def test_an_unknown_or_malformed_key_is_refused(api: Api, header: str) -> None:
    problem(api.client.post("/v1/locations", json=LOCATION, headers={"Authorization": header}), 401, "unauthenticated")


def test_a_revoked_key_is_refused(api: Api) -> None:
    key = api.container.keys.create("temp", Role.INTEGRATOR)
    key_id = key.split("_")[1]
    ok = api.client.post("/v1/locations", json=LOCATION, headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 201
    assert api.container.keys.revoke(key_id)
    problem(
        api.client.post("/v1/locations", json=LOCATION, headers={"Authorization": f"Bearer {key}"}),
        401,
        "unauthenticated",
    )


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SUPPORT, Role.AUDITOR])
def test_roles_without_command_rights_are_forbidden(api: Api, role: Role) -> None:
    problem(api.post("/v1/locations", LOCATION, role=role), 403, "forbidden")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.INTEGRATOR])
def test_admins_and_integrators_may_send_commands(api: Api, role: Role) -> None:
    assert api.post("/v1/locations", {**LOCATION, "location_id": f"loc-{role.value}"}, role=role).status_code == 201


def test_the_key_name_and_role_are_the_actor_on_every_event(api: Api) -> None:
    api.post("/v1/locations", LOCATION, **{"X-Request-Id": "req-123"})
    ledger = api.container.ledger
    events = [ledger.mapper.to_domain_event(n) for n in ledger.recorder.select_notifications(None, 10)]
    assert {(e.actor, e.correlation_id) for e in events} == {("integrator:integrator-tester", "req-123")}  # type: ignore[attr-defined]


def test_the_first_start_creates_one_admin_key_and_later_starts_none(api: Api) -> None:
    keys = api.container.keys
    assert keys.create_first_admin() is None  # keys exist already


def test_keys_are_stored_hashed(api: Api) -> None:
    secret = api.keys[Role.ADMIN].split("_")[2]
    with api.container.pool.connection() as conn:
        rows = conn.execute("SELECT key_hash FROM ledger.api_keys").fetchall()
    assert rows
    assert all(secret not in row[0] for row in rows)
