"""The offices configuration: today's city (and the offices it closed), and a clear message for a
malformed entry."""

from __future__ import annotations

from datetime import date

import pytest

from deploy.city import successors
from deploy.config.offices import OfficesError, load_offices, parse_offices
from deploy.config.settings import Settings


def test_the_demo_ships_todays_city_and_the_22_former_districts() -> None:
    offices = load_offices(Settings.from_env({}).offices_file)
    # the city office, 4 committees of city agencies, 168 commune-level committees (NQ 1685/NQ-UBTVQH15)
    # opened on 1 July 2025, and the 22 district-level offices the demo closes on 30 June 2025
    assert len(offices) == 1 + 4 + 168 + 22
    communes = [o for o in offices if o.opened_on == date(2025, 7, 1)]
    assert len(communes) == 168 and len({o.id for o in communes}) == 168
    assert offices["phuong-sai-gon"].name == "Văn phòng Đảng ủy phường Sài Gòn"
    assert offices["dac-khu-con-dao"].name == "Văn phòng Đảng ủy đặc khu Côn Đảo"
    assert all(o.id.isascii() for o in offices)
    assert set(successors()) == {o.id for o in offices if o.code in ("QU", "HU") or o.id == "tp-thu-duc"}
    assert all(s in offices and offices[s].opened_on for names in successors().values() for s in names)
    assert successors()["qu-1"][0] == "phuong-tan-dinh"  # the first committee whose main district it was
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
        ({"opened_on": "1 July"}, "opened_on: must be a date"),
    ],
)
def test_malformed_entries_name_the_field(entry: dict[str, object], message: str) -> None:
    with pytest.raises(OfficesError, match=message):
        parse_offices(_one(**entry))
