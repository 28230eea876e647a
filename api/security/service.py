"""The security services one running API holds: users, tokens, the login limiter, audit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from api.security.audit import AuditLog
from api.security.bootstrap import admin_from_settings, ensure_admin
from api.security.ratelimit import LimitRule, LoginLimiter, SharedLoginLimiter
from api.security.tokens import TokenStore
from api.security.users import UserStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SecurityConfig:
    """Token lifetime, login limits and the optional first admin (from the environment)."""

    token_ttl_s: float = 12 * 3600.0  # one shift
    per_user: LimitRule = LimitRule(attempts=5, window_s=300.0)
    per_client: LimitRule = LimitRule(attempts=30, window_s=300.0)
    admin_user: str | None = None
    admin_password: SecretStr | None = field(default=None, repr=False)
    metrics_token: SecretStr | None = field(default=None, repr=False)  # Prometheus' scrapes
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Security:
    """Users, tokens, the login limiter and the audit log over one engine."""

    users: UserStore
    tokens: TokenStore
    limiter: LoginLimiter | SharedLoginLimiter
    audit: AuditLog
    metrics_token: str | None = field(default=None, repr=False)

    @classmethod
    async def open(
        cls, engine: AsyncEngine, config: SecurityConfig, shared: Redis | None = None
    ) -> Security:
        """Create the first admin if configured and none exists (the tables are the hub's
        migrations' business); raises BootstrapError on an unusable admin setting. With
        `shared` (hubs of a cluster), login limits count every hub's failures there."""
        admin = admin_from_settings(config.admin_user, config.admin_password)
        limiter = (
            LoginLimiter(config.per_user, config.per_client, config.clock)
            if shared is None
            else SharedLoginLimiter(shared, config.per_user, config.per_client, config.clock)
        )
        security = cls(
            UserStore(engine, config.clock),
            TokenStore(engine, config.token_ttl_s, config.clock),
            limiter,
            AuditLog(engine, config.clock),
            config.metrics_token.get_secret_value() if config.metrics_token else None,
        )
        if admin is not None:
            await ensure_admin(security.users, *admin)
        elif not await security.users.has_admin():
            log.warning(
                "security: no admin user; create one with `riverwatch users add NAME --role "
                "admin` or RIVERWATCH_ADMIN_USER and RIVERWATCH_ADMIN_PASSWORD"
            )
        return security
