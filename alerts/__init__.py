"""Alerts: zone events in, incidents in the Redis ticket queue out, then the closed loop.

Public surface: `AlertPolicy` (events to incident messages), `Suppressions` (operator windows),
`AlertPublisher` (spool, then the stream), `EmbeddedRedis` (a real Redis for a hub without
`REDIS_URL`) and the `AlertsError` tree. Subpackages, imported by whoever needs them:
`alerts.evidence` (snapshot and clip), `alerts.tickets` (the closed loop on SQL),
`alerts.notify` (webhooks, field speakers).
"""

from alerts.embedded_redis import EmbeddedRedis
from alerts.errors import AlertsError, QueueUnavailable
from alerts.policy import AlertPolicy, alert_id_for, severity_for
from alerts.publisher import ID_KEY_PREFIX, AlertPublisher
from alerts.suppress import SuppressionError, Suppressions, SuppressionWindow

__all__ = [
    "ID_KEY_PREFIX",
    "AlertPolicy",
    "AlertPublisher",
    "AlertsError",
    "EmbeddedRedis",
    "QueueUnavailable",
    "SuppressionError",
    "SuppressionWindow",
    "Suppressions",
    "alert_id_for",
    "severity_for",
]
