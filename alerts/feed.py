"""A live feed of alert messages for browsers (server-sent events, WebSockets).

Every subscriber gets its own bounded queue; a slow page loses the oldest messages, counted,
and never slows the detection loop that publishes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from riverwatch.types import Alert


class AlertFeed:
    """`feed.publish(message)` from the hub; `async with feed.subscribe() as queue:` per page."""

    def __init__(self, queue_size: int = 256, max_subscribers: int = 200) -> None:
        self._queue_size = queue_size
        self._max_subscribers = max_subscribers
        self._subscribers: set[asyncio.Queue[Alert]] = set()
        self.dropped = 0

    def publish(self, message: Alert) -> None:
        """Hand a message to every subscriber; drop a slow one's oldest, counted."""
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(message)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Alert]]:
        """A queue of the messages published from now on; raises OverflowError when full."""
        if len(self._subscribers) >= self._max_subscribers:
            raise OverflowError(f"at most {self._max_subscribers} live subscribers")
        queue: asyncio.Queue[Alert] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def max_subscribers(self) -> int:
        """How many pages may listen at once."""
        return self._max_subscribers

    @property
    def subscribers(self) -> int:
        """Pages listening now."""
        return len(self._subscribers)
