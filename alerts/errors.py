"""Errors of the alerts package:

AlertsError
 └── QueueUnavailable    the Redis ticket queue could not be reached or started
"""


class AlertsError(Exception):
    """Base of every alerts failure."""


class QueueUnavailable(AlertsError):
    """Redis could not be reached (or the embedded one could not start)."""
