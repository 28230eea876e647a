"""The security package's exceptions.

SecurityError
 ├── BadUsername      a username outside [A-Za-z0-9._-], 1-64 characters
 ├── WeakPassword     a password too short (or absurdly long)
 ├── UserExists       the username is taken
 ├── UnknownUser      no user has this name
 ├── LastAdmin        the change would leave no enabled admin
 └── BootstrapError   the first admin cannot be made from the given settings
"""

from __future__ import annotations


class SecurityError(Exception):
    """Root of the security package's errors; the message is safe to show."""


class BadUsername(SecurityError):
    """A username outside the allowed characters or length."""


class WeakPassword(SecurityError):
    """A password too short (or too long to be reasonable)."""


class UserExists(SecurityError):
    """The username is taken."""


class UnknownUser(SecurityError):
    """No user has this name."""


class LastAdmin(SecurityError):
    """The change would leave no enabled admin."""


class BootstrapError(SecurityError):
    """The first admin cannot be created from the given settings."""
