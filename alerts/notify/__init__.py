"""Notifications: signed webhooks with retries and a dead-letter list; field loudspeakers.

Public surface: `Notifier` (`submit(alert, on_settled)` and `notify(alert)`, sync and
non-blocking, `stats()`, `dead_letters()`, `redrive()`), `StreamIntake` (feeds the notifier
from its own consumer group `GROUP` on the alert stream; see `alerts.notify.intake`), the
config models (`NotifyConfig`, `WebhookConfig`, `SpeakerAction`, `RetryPolicy`,
`resolve_secrets`), `verify` for receivers (see `alerts.notify.signing`), `DeadLetter`,
`TargetStats` and the `NotifyError` tree.
"""

from alerts.notify.deadletter import DeadLetter
from alerts.notify.delivery import TargetStats
from alerts.notify.dispatcher import DEAD_LETTER_FILE, Notifier
from alerts.notify.errors import DeadLetterStoreError, NotifyError, SignatureError, UnknownTarget
from alerts.notify.intake import GROUP, IntakeOptions, StreamIntake
from alerts.notify.signing import verify
from riverwatch.notify_config import (
    NotifyConfig,
    ResolvedNotify,
    RetryPolicy,
    SpeakerAction,
    WebhookConfig,
    resolve_secrets,
)

__all__ = [
    "DEAD_LETTER_FILE",
    "DeadLetter",
    "DeadLetterStoreError",
    "GROUP",
    "IntakeOptions",
    "Notifier",
    "NotifyConfig",
    "NotifyError",
    "ResolvedNotify",
    "RetryPolicy",
    "SignatureError",
    "SpeakerAction",
    "StreamIntake",
    "TargetStats",
    "UnknownTarget",
    "WebhookConfig",
    "resolve_secrets",
    "verify",
]
