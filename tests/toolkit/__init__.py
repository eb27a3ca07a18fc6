"""What many tests share: the configured offices (here), waiting on a condition (`waiting`), the services
as real processes (`processes`), how far the read models have got (`readmodels`). Sample request bodies
live with the decider's table, in tests/unit/lifecycle.py."""

from __future__ import annotations

from deploy.config.offices import Offices, configured_offices
from deploy.config.settings import Settings

OFFICES: Offices = configured_offices(Settings.from_env())  # the offices file the services under test read
