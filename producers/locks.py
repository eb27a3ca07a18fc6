"""Advisory lock keys and the notification channel shared by the writers, the relay and the anchorer."""

from __future__ import annotations

LOCK_CLASS = 0x76616E74  # "vant": the two-int advisory lock space of vanthu's event store
APPEND = 1  # held shared by every appending transaction, exclusive by the anchorer to settle positions
RELAY = 2  # session lock of the one active relay; standbys wait on it
ANCHOR = 3  # one anchor writer at a time

CHANNEL = "vanthu_events"  # NOTIFY'd by every appending transaction, delivered when it commits
