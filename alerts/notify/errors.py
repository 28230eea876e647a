"""Errors of the notifications package:

NotifyError
 ├── SignatureError        a webhook delivery's signature does not verify (receiver side)
 ├── DeadLetterStoreError  the durable dead-letter list cannot be opened, read or written
 └── UnknownTarget         a webhook or speaker name that is not configured

Delivery failures (timeouts, refused connections, 5xx) are not raised to callers: they are
retried, counted and finally dead-lettered (webhooks) or dropped with a counted reason
(speakers). `Notifier.notify()` never raises for a receiver's sake.
"""


class NotifyError(Exception):
    """Base of every notifications failure."""


class SignatureError(NotifyError):
    """A signed delivery that must be rejected; the message says why (never the secret)."""


class DeadLetterStoreError(NotifyError):
    """The dead-letter database could not be used."""


class UnknownTarget(NotifyError):
    """No webhook or speaker with this name is configured."""
