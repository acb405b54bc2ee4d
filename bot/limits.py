"""The per-user question limit: at most N questions in any 60 seconds (a sliding window)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable

WINDOW = 60.0  # seconds; the limit is "N questions in any minute"
TRACKED = 4096  # users remembered before those idle for a whole window are forgotten


class QuestionLimits:
    """Remembers when each user's admitted questions were asked, within the last window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._asked: dict[Hashable, deque[float]] = {}

    def admit(self, user: Hashable) -> int:
        """0 when the question is admitted (and counted); otherwise the whole seconds until the
        user's oldest question in the window leaves it and the next one is allowed."""
        if self.per_minute <= 0:
            return 0
        now = self.clock()
        if len(self._asked) > TRACKED:
            self._asked = {k: q for k, q in self._asked.items() if q and now - q[-1] < WINDOW}
        asked = self._asked.setdefault(user, deque())
        while asked and now - asked[0] >= WINDOW:
            asked.popleft()
        if len(asked) >= self.per_minute:
            return max(1, math.ceil(asked[0] + WINDOW - now))
        asked.append(now)
        return 0
