"""What many tests share: the configured offices, waiting on a condition, running a service process."""

from __future__ import annotations

from deploy.config.offices import Offices, configured_offices
from deploy.config.settings import Settings

OFFICES: Offices = configured_offices(Settings.from_env())  # the offices file the services under test read
