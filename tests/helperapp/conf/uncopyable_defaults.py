"""A mutable default that cannot be copied (it holds a lock): handed out as it is, as Django does."""

from __future__ import annotations

import threading

LOCKS = [threading.Lock()]
