"""Signed webhook deliveries: which alerts a receiver wants and the request for each attempt."""

from __future__ import annotations

import json

from alerts.notify.deadletter import DeadLetter
from alerts.notify.delivery import FilteredChannel, HttpCall, Job, delivery_id_for
from alerts.notify.signing import canonical_json, signed_headers
from riverwatch.notify_config import WebhookConfig
from riverwatch.types import Alert


class WebhookChannel(FilteredChannel):
    """One configured webhook: filters alerts into signed jobs; re-signs every attempt."""

    def __init__(self, config: WebhookConfig) -> None:
        super().__init__(config)
        self._config = config

    @property
    def durable(self) -> bool:
        """Undeliverable webhooks are dead-lettered for a later re-drive."""
        return True

    def job(self, alert: Alert, event: str, now: float, age_s: float = 0.0) -> Job | None:
        """A signed-payload job, or None when a filter refuses the alert (age is no bar)."""
        if not self.wants(alert, event):
            return None
        delivery_id = delivery_id_for(self.name, event, alert.message_id)
        payload = {"event": event, "delivery_id": delivery_id, "alert": alert.to_fields()}
        return Job(self.name, delivery_id, event, alert.alert_id, canonical_json(payload), now)

    def job_from_dead_letter(self, letter: DeadLetter, now: float) -> Job:
        """A fresh job carrying a dead letter's body and delivery id (attempts start again)."""
        return Job(
            self.name, letter.delivery_id, letter.event, _alert_id(letter.body), letter.body, now
        )

    def call(self, job: Job) -> HttpCall:
        """POST the body with a signature made now (the timestamp is part of what is signed)."""
        headers = signed_headers(self._config.secret, job.body, job.delivery_id, job.event)
        return HttpCall("POST", self._config.url.get_secret_value(), headers, job.body)


def _alert_id(body: bytes) -> str:
    """The alert id inside a stored payload, for log lines; empty if it cannot be read."""
    try:
        return str(json.loads(body)["alert"]["alert_id"])
    except (ValueError, KeyError, TypeError):
        return ""
