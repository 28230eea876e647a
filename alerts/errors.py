"""Errors of the alerts package:

AlertsError
 ├── QueueUnavailable    the Redis ticket queue could not be reached or started
 ├── SpoolUnavailable    the durable alert spool could not be opened or written (names the file)
 └── MalformedMessage    a stream entry that is not a valid alert (the consumer dead-letters it)
"""


class AlertsError(Exception):
    """Base of every alerts failure."""


class QueueUnavailable(AlertsError):
    """Redis could not be reached (or the embedded one could not start)."""


class SpoolUnavailable(AlertsError):
    """The on-disk spool cannot be used; the message names the file and the reason."""


class MalformedMessage(AlertsError):
    """A stream entry could not be read as an `Alert`; the message says which field is wrong."""
