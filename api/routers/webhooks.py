"""Webhook subscriptions (admins): make, list, pause, resume, rotate the secret, delete; each
one's delivery log, redelivering one delivery and replaying from a ledger position."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Response
from psycopg import sql
from psycopg.rows import dict_row

from api.deps import ContainerDep, require
from api.errors import READ_ERRORS, DeliveryNotFound, WebhookNotFound
from api.keys import Principal
from api.reads import PrimaryConnection
from api.schemas import webhooks as s
from api.webhooks import store, targets
from commands.registry import event_types
from domain.errors import InvalidCommand
from projections.admin import head

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=READ_ERRORS)
Admin = Annotated[Principal, Depends(require())]
WebhookId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^wh_[0-9a-f]+$")]
DeliveryId = Annotated[int, Path(ge=1, description="The delivery's event position (its webhook-id).")]
log = logging.getLogger(__name__)


def _answer(sub: store.Subscription) -> s.Subscription:
    return s.Subscription(
        id=sub.id,
        url=sub.url,
        event_types=sub.event_types,
        filter=s.WebhookFilter(channel=sub.channel, location_id=sub.location_id),
        description=sub.description,
        status="paused" if sub.paused else "active",
        max_attempts=sub.max_attempts,
        position=sub.position,
        created_by=sub.created_by,
        created_at=sub.created_at,
        updated_at=sub.updated_at,
        secret_rotated_until=sub.previous_until if sub.previous_secret else None,
    )


def _found(conn: Any, webhook_id: str) -> store.Subscription:
    sub = store.subscription(conn, webhook_id)
    if sub is None:
        raise WebhookNotFound(f"no webhook subscription {webhook_id}")
    return sub


@router.post("", status_code=201, response_model=s.SubscriptionWithSecret)
def create_webhook(
    body: s.SubscriptionBody, conn: PrimaryConnection, container: ContainerDep, principal: Admin, response: Response
) -> s.SubscriptionWithSecret:
    """Subscribe a URL to the ledger's events; the answer holds the signing secret, shown this once."""
    settings = container.settings
    targets.check(body.url, targets.networks(settings.webhook_allow_networks))
    if body.event_types is not None:
        unknown = sorted(set(body.event_types) - event_types())
        if unknown:
            raise InvalidCommand(f"unknown event types: {', '.join(unknown)}", unknown=unknown)
    position = head(conn) if body.after is None else body.after
    if position > head(conn):
        raise InvalidCommand(f"after {position} is beyond the ledger's last position")
    webhook_id, secret = store.new_id(), store.new_secret()
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (id, url, event_types, channel, location_id, description, secret, max_attempts,"
                " position, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(store.SUBSCRIPTIONS),
            (
                webhook_id,
                body.url,
                sorted(set(body.event_types)) if body.event_types is not None else None,
                body.filter.channel,
                body.filter.location_id,
                body.description,
                secret,
                body.max_attempts or settings.webhook_max_attempts,
                position,
                principal.actor,
            ),
        )
    log.info("webhook %s to %s created by %s", webhook_id, body.url, principal.actor)
    response.headers["Location"] = f"/v1/webhooks/{webhook_id}"
    return s.SubscriptionWithSecret(**_answer(_found(conn, webhook_id)).model_dump(), secret=secret)


@router.get("", response_model=s.SubscriptionList)
def list_webhooks(conn: PrimaryConnection, _: Admin) -> s.SubscriptionList:
    """Every subscription (never their secrets)."""
    return s.SubscriptionList(items=[_answer(sub) for sub in store.subscriptions(conn)])


@router.get("/{webhook_id}", response_model=s.Subscription)
def get_webhook(webhook_id: WebhookId, conn: PrimaryConnection, _: Admin) -> s.Subscription:
    return _answer(_found(conn, webhook_id))


def _update(conn: Any, webhook_id: str, assignments: sql.Composable, params: tuple[Any, ...]) -> store.Subscription:
    with conn.transaction():
        row = conn.execute(
            sql.SQL("UPDATE {} SET {}, updated_at = now() WHERE id = %s RETURNING id").format(
                store.SUBSCRIPTIONS, assignments
            ),
            (*params, webhook_id),
        ).fetchone()
    if row is None:
        raise WebhookNotFound(f"no webhook subscription {webhook_id}")
    return _found(conn, webhook_id)


@router.post("/{webhook_id}/pause", response_model=s.Subscription)
def pause_webhook(webhook_id: WebhookId, conn: PrimaryConnection, principal: Admin) -> s.Subscription:
    """Stop sending; events go on being queued, and are sent on resuming."""
    log.info("webhook %s paused by %s", webhook_id, principal.actor)
    return _answer(_update(conn, webhook_id, sql.SQL("paused = true"), ()))


@router.post("/{webhook_id}/resume", response_model=s.Subscription)
def resume_webhook(webhook_id: WebhookId, conn: PrimaryConnection, principal: Admin) -> s.Subscription:
    log.info("webhook %s resumed by %s", webhook_id, principal.actor)
    return _answer(_update(conn, webhook_id, sql.SQL("paused = false"), ()))


@router.post("/{webhook_id}/secret", response_model=s.SubscriptionWithSecret)
def rotate_webhook_secret(
    webhook_id: WebhookId, conn: PrimaryConnection, container: ContainerDep, principal: Admin
) -> s.SubscriptionWithSecret:
    """A new secret, shown this once; for OMS_WEBHOOK_ROTATION_GRACE_HOURS deliveries are signed
    with both, so the receiver can switch without losing one."""
    secret = store.new_secret()
    until = datetime.now(UTC) + timedelta(hours=container.settings.webhook_rotation_grace_hours)
    sub = _update(
        conn,
        webhook_id,
        sql.SQL("previous_secret = secret, previous_until = %s, secret = %s"),
        (until, secret),
    )
    log.info("webhook %s secret rotated by %s", webhook_id, principal.actor)
    return s.SubscriptionWithSecret(**_answer(sub).model_dump(), secret=secret)


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: WebhookId, conn: PrimaryConnection, principal: Admin) -> Response:
    """Delete the subscription with its deliveries and their log."""
    with conn.transaction():
        row = conn.execute(
            sql.SQL("DELETE FROM {} WHERE id = %s RETURNING id").format(store.SUBSCRIPTIONS), (webhook_id,)
        ).fetchone()
    if row is None:
        raise WebhookNotFound(f"no webhook subscription {webhook_id}")
    log.info("webhook %s deleted by %s", webhook_id, principal.actor)
    return Response(status_code=204)


@router.post("/{webhook_id}/replay", response_model=s.Subscription)
def replay_webhook(
    webhook_id: WebhookId, body: s.ReplayBody, conn: PrimaryConnection, principal: Admin
) -> s.Subscription:
    """Deliver again every matching event after `after` (delivered ones too), each stream in order."""
    if body.after > head(conn):
        raise InvalidCommand(f"after {body.after} is beyond the ledger's last position")
    log.info("webhook %s replayed after %d by %s", webhook_id, body.after, principal.actor)
    return _answer(_update(conn, webhook_id, sql.SQL("position = %s"), (body.after,)))


_DELIVERY_COLUMNS = sql.SQL(
    "d.position, d.stream_id::text AS stream_id, b.event_type, d.state, d.attempts,"
    " CASE WHEN d.state = 'pending' THEN d.next_attempt_at END AS next_attempt_at, d.created_at, d.delivered_at,"
    " d.last_status, d.last_error"
)
# A delivery with its event's type and body, stored once per event.
_JOINED = sql.SQL("{} d JOIN {} b USING (position)").format(store.DELIVERIES, store.BODIES)


@router.get("/{webhook_id}/deliveries", response_model=s.DeliveryPage)
def list_deliveries(
    webhook_id: WebhookId,
    conn: PrimaryConnection,
    _: Admin,
    state: Annotated[str | None, Query(pattern=r"^(pending|delivered|dead)$")] = None,
    before: Annotated[int | None, Query(ge=1, description="Only deliveries of events before this position.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> s.DeliveryPage:
    """The subscription's deliveries, newest first, with their state and last answer."""
    _found(conn, webhook_id)
    where = [sql.SQL("d.subscription_id = %s")]
    params: list[Any] = [webhook_id]
    if state is not None:
        where.append(sql.SQL("d.state = %s"))
        params.append(state)
    if before is not None:
        where.append(sql.SQL("d.position < %s"))
        params.append(before)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY d.position DESC LIMIT %s").format(
                _DELIVERY_COLUMNS, _JOINED, sql.SQL(" AND ").join(where)
            ),
            [*params, limit + 1],
        ).fetchall()
    items = [s.Delivery.model_validate(r) for r in rows[:limit]]
    return s.DeliveryPage(items=items, next_before=items[-1].position if len(rows) > limit else None)


@router.get("/{webhook_id}/deliveries/{position}", response_model=s.DeliveryDetail)
def get_delivery(webhook_id: WebhookId, position: DeliveryId, conn: PrimaryConnection, _: Admin) -> s.DeliveryDetail:
    """One delivery: its body as signed, and every attempt (time, status, latency, error)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL(
                "SELECT {}, b.body, d.last_attempt_at, d.last_latency_ms FROM {}"
                " WHERE d.subscription_id = %s AND d.position = %s"
            ).format(_DELIVERY_COLUMNS, _JOINED),
            (webhook_id, position),
        ).fetchone()
        if row is None:
            raise DeliveryNotFound(f"webhook {webhook_id} has no delivery {position}")
        attempts = cur.execute(
            sql.SQL(
                "SELECT attempt, attempted_at, status, latency_ms, error FROM {}"
                " WHERE subscription_id = %s AND position = %s ORDER BY id"
            ).format(store.ATTEMPTS),
            (webhook_id, position),
        ).fetchall()
    body = orjson.loads(bytes(row.pop("body")))
    log = [s.Attempt.model_validate(a) for a in attempts]
    last_at, last_latency = row.pop("last_attempt_at"), row.pop("last_latency_ms")
    if row["state"] == "delivered" and last_at is not None:  # failed attempts have rows; the one that went is the last
        log.append(
            s.Attempt(
                attempt=row["attempts"],
                attempted_at=last_at,
                status=row["last_status"],
                latency_ms=last_latency or 0.0,
                error=None,
            )
        )
    return s.DeliveryDetail(**row, body=body, log=log)


@router.post("/{webhook_id}/deliveries/{position}/redelivery", response_model=s.Delivery)
def redeliver(webhook_id: WebhookId, position: DeliveryId, conn: PrimaryConnection, principal: Admin) -> s.Delivery:
    """Send one delivery again (a dead one, or one delivered), now, with a fresh count of attempts."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL(
                "UPDATE {} d SET state = 'pending', attempts = 0, next_attempt_at = now(), delivered_at = NULL"
                " FROM {} b WHERE b.position = d.position AND d.subscription_id = %s AND d.position = %s"
                " RETURNING {}"
            ).format(store.DELIVERIES, store.BODIES, _DELIVERY_COLUMNS),
            (webhook_id, position),
        ).fetchone()
    if row is None:
        raise DeliveryNotFound(f"webhook {webhook_id} has no delivery {position}")
    log.info("webhook %s delivery %d sent again by %s", webhook_id, position, principal.actor)
    return s.Delivery.model_validate(row)
