"""The offices configuration: the demo's 23 offices, and a clear message for a malformed entry."""

from __future__ import annotations

import pytest

from deploy.config.offices import OfficesError, load_offices, parse_offices
from deploy.config.settings import Settings


def test_the_demo_ships_the_city_office_and_22_districts() -> None:
    offices = load_offices(Settings.from_env({}).offices_file)
    assert len(offices) == 23
    city = offices["tu-hcm"]
    assert city.parent_id is None and city.code == "TU" and city.units
    assert all(o.parent_id == "tu-hcm" for o in offices if o.id != "tu-hcm")
    assert offices.due_soon_days("tu-hcm", 9) == 3  # configured for the city office
    assert offices.due_soon_days("qu-1", 9) == 9  # the setting's default elsewhere


def _one(**entry: object) -> dict[str, object]:
    return {"offices": [{"id": "x", "name": "X", "code": "X", "parent_id": None, "units": [], **entry}]}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"code": "T U"}, "code: no spaces"),
        ({"parent_id": "nowhere"}, "parent_id 'nowhere' is not an office"),
        ({"due_soon_days": -1}, "due_soon_days: must be a whole number"),
        ({"due_soon_days": "3"}, "due_soon_days: must be a whole number"),
        ({"name": ""}, "name: must be a non-empty string"),
    ],
)
def test_malformed_entries_name_the_field(entry: dict[str, object], message: str) -> None:
    with pytest.raises(OfficesError, match=message):
        parse_offices(_one(**entry))
