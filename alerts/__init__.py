"""Alerts: zone events in, alerts in the Redis ticket queue out.

Public surface: `AlertRaiser` (events to alerts), `AlertPublisher` (into the stream),
`EmbeddedRedis` (a real Redis for a hub without `REDIS_URL`) and the `AlertsError` tree.
"""

from alerts.embedded_redis import EmbeddedRedis
from alerts.errors import AlertsError, QueueUnavailable
from alerts.publisher import ID_KEY_PREFIX, AlertPublisher
from alerts.raiser import AlertRaiser, alert_id_for

__all__ = [
    "ID_KEY_PREFIX",
    "AlertPublisher",
    "AlertRaiser",
    "AlertsError",
    "EmbeddedRedis",
    "QueueUnavailable",
    "alert_id_for",
]
