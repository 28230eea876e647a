"""Configuration versions in the hub's database: every hub of a cluster reads the same ones.

A version is the YAML text, its number (1, 2, ...), who made it, when, the stamps of its
cameras (`riverwatch.config_edit.Stamp`), and, for one imported from a file, that file's
SHA-256. Numbers are unique: two changes made from the same version at the same moment cannot
both become the next one; the second is told (`Superseded`) and made again from the winner.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from riverwatch.config_edit import ConfigVersion, Stamp

metadata = sa.MetaData()

config_versions = sa.Table(
    "config_versions",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("note", sa.String(200), nullable=False, default=""),
    sa.Column("file_sha256", sa.String(64), nullable=True),  # imported from a file: its hash
    sa.Column("stamps", sa.Text, nullable=False),  # JSON: key -> [version, by, at]
    sa.Column("created_at", sa.Double, nullable=False),
)


class Superseded(Exception):
    """Another hub or admin made the next version first."""


def sha256(text: str) -> str:
    """The hex SHA-256 of the text's UTF-8."""
    return hashlib.sha256(text.encode()).hexdigest()


class ConfigStore:
    """`latest()`, `append(...)`, `history()` on the hub's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def latest(self) -> ConfigVersion | None:
        """The newest version, or None before the first."""
        query = sa.select(config_versions).order_by(config_versions.c.number.desc()).limit(1)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _version(row)

    async def latest_number(self) -> int:
        """The newest version's number (0 before the first): cheap, for following."""
        async with self._engine.connect() as conn:
            found = await conn.scalar(sa.select(sa.func.max(config_versions.c.number)))
        return int(found or 0)

    async def append(
        self,
        after: ConfigVersion | None,
        text: str,
        author: str,
        stamps: dict[str, Stamp],
        note: str = "",
        file_sha256: str | None = None,
    ) -> ConfigVersion:
        """Store the version after `after`; raises `Superseded` when that number is taken."""
        version = ConfigVersion(
            (after.number if after is not None else 0) + 1,
            text,
            author,
            note[:200],
            time.time(),
            file_sha256,
            dict(stamps),
        )
        row = {
            "number": version.number,
            "text": text,
            "sha256": sha256(text),
            "author": author[:64],
            "note": version.note,
            "file_sha256": file_sha256,
            "stamps": json.dumps({k: [s.version, s.by, s.at] for k, s in stamps.items()}),
            "created_at": version.created_at,
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(sa.insert(config_versions).values(**row))
        except IntegrityError:
            raise Superseded(f"version {version.number} was made meanwhile") from None
        return version

    async def history(self, limit: int = 50) -> list[ConfigVersion]:
        """The newest versions first, text left out."""
        columns = [c for c in config_versions.c if c.name != "text"]
        query = (
            sa.select(*columns, sa.literal("").label("text"))
            .order_by(config_versions.c.number.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_version(r) for r in rows]

    async def get(self, number: int) -> ConfigVersion | None:
        """One version by its number."""
        query = sa.select(config_versions).where(config_versions.c.number == number)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _version(row)


def _version(row: Any) -> ConfigVersion:
    m = row._mapping
    stamps = {
        k: Stamp(int(v[0]), str(v[1]), float(v[2])) for k, v in json.loads(m["stamps"]).items()
    }
    return ConfigVersion(
        int(m["number"]),
        str(m["text"]),
        str(m["author"]),
        str(m["note"]),
        float(m["created_at"]),
        m["file_sha256"],
        stamps,
    )
