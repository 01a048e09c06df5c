"""What leaves the ledger, built from settings: the webhook worker and the customer notifier."""

from __future__ import annotations

from datetime import timedelta

from api.metrics import Metrics
from api.notifications.mailer import Mailer, SmtpServer
from api.notifications.notifier import Notifier
from api.notifications.render import Renderer
from api.settings import Settings
from api.webhooks.deliver import Policy
from api.webhooks.targets import networks
from api.webhooks.worker import WebhookWorker
from commands.ledger import Ledger
from projections.events import make_mapper


def webhook_policy(settings: Settings) -> Policy:
    return Policy(
        allowed=networks(settings.webhook_allow_networks),
        timeout_seconds=settings.webhook_timeout_seconds,
        concurrency=settings.webhook_concurrency,
        retry_base_seconds=settings.webhook_retry_base_seconds,
        retention=timedelta(days=settings.webhook_retention_days),
    )


def webhook_worker(settings: Settings, url: str, ledger: Ledger, metrics: Metrics) -> WebhookWorker:
    return WebhookWorker(url, ledger, make_mapper(), webhook_policy(settings), observer=metrics)


def notifier(settings: Settings, url: str, ledger: Ledger, metrics: Metrics) -> Notifier | None:
    if settings.smtp_url is None or not settings.smtp_url.get_secret_value().strip():
        return None
    return Notifier(
        url,
        ledger,
        make_mapper(),
        Mailer(SmtpServer.from_url(settings.smtp_url.get_secret_value()), settings.notify_from),
        Renderer(settings.notify_templates),
        public_url=settings.public_url,
        shop_name=settings.shop_name,
        observer=metrics,
        retry_base_seconds=settings.notify_retry_base_seconds,
        max_age=timedelta(hours=settings.notify_max_age_hours),
    )
