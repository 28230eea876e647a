"""Authentication, roles and audit for the API.

Users with one role each (`users.py`, scrypt password hashes), opaque bearer tokens stored
hashed with an expiry (`tokens.py`), login throttling (`ratelimit.py`), an audit log of every
state change (`audit.py`), the route guards (`deps.py`) and the role table (`policy.py`).
`Security.open(engine, config)` makes the first admin when the API starts; the tables
(`metadata`) are made by the hub's migrations.
"""

from api.security.errors import BootstrapError, SecurityError
from api.security.service import Security, SecurityConfig
from api.security.tables import metadata
from api.security.users import Role, User

__all__ = [
    "BootstrapError",
    "Role",
    "Security",
    "SecurityConfig",
    "SecurityError",
    "User",
    "metadata",
]
