"""Today's city as offices: the Văn phòng Thành ủy, the 168 commune-level Party committees in force since
1 July 2025 (Nghị quyết 1685/NQ-UBTVQH15, `deploy/data/hcmc_communes_2025.json`), a few Party committees
of city agencies, and the 22 former district-level offices that closed on 30 June 2025 and whose
successors took over their documents. `python -m deploy.city` writes `deploy/offices.json`."""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "hcmc_communes_2025.json"
OFFICES_FILE = Path(__file__).parent / "offices.json"
CHANGE = date(2025, 7, 1)  # the two-level local government took effect
CLOSED_ON = date(2025, 6, 30)  # the district-level committees' last day
KIND_NAMES = {"phuong": "phường", "xa": "xã", "dac_khu": "đặc khu"}
# The committees' own units (Quy định 2025 on the apparatus of commune-level Party committees).
COMMUNE_UNITS = [
    ("van-phong", "Văn phòng Đảng ủy"),
    ("ban-xay-dung-dang", "Ban Xây dựng Đảng"),
    ("uy-ban-kiem-tra", "Ủy ban Kiểm tra Đảng ủy"),
    ("trung-tam-chinh-tri", "Trung tâm Chính trị"),
]
AGENCIES = [
    ("du-co-quan-dang", "Đảng ủy các cơ quan Đảng Thành phố"),
    ("du-ubnd-tp", "Đảng ủy Ủy ban nhân dân Thành phố"),
    ("du-cong-an-tp", "Đảng ủy Công an Thành phố"),
    ("du-quan-su-tp", "Đảng ủy Quân sự Thành phố"),
]
# The former district-level offices' ids (kept: tests and stored documents name them), by unit name.
DISTRICT_IDS = {
    "Thành phố Thủ Đức": "tp-thu-duc",
    "Huyện Bình Chánh": "hu-binh-chanh",
    "Huyện Cần Giờ": "hu-can-gio",
    "Huyện Củ Chi": "hu-cu-chi",
    "Huyện Hóc Môn": "hu-hoc-mon",
    "Huyện Nhà Bè": "hu-nha-be",
}


def slug(name: str) -> str:
    """An ASCII office id from a Vietnamese name: "Phường Sài Gòn" -> "phuong-sai-gon"."""
    plain = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    ascii_ = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_).split())


def district_id(name: str) -> str:
    """The former district office id of a unit name: Quận 1 is qu-1, Quận Bình Tân qu-binh-tan."""
    if name in DISTRICT_IDS:
        return DISTRICT_IDS[name]
    return "qu-" + slug(name.removeprefix("Quận "))


def commune_ids(data: dict[str, Any]) -> dict[str, str]:
    """Each committee's office id by its unit's name; two names that differ only in their marks (Xã Thanh
    An, Xã Thạnh An) add their main former district's name."""
    by_slug: dict[str, list[dict[str, Any]]] = {}
    for unit in data["units"]:
        by_slug.setdefault(slug(unit["name"]), []).append(unit)
    ids = {}
    for oid, units in by_slug.items():
        for unit in units:
            where = unit["from"][0].removeprefix("Huyện ").removeprefix("Thành phố ").removeprefix("Quận ")
            ids[unit["name"]] = oid if len(units) == 1 else f"{oid}-{slug(where)}"
    return ids


def load_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    return data


def successors(data: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Each former district office's successor committees, the first being the one that takes its open
    documents: a committee whose main former district it was (the data lists main districts first)."""
    data = data or load_data()
    ids = commune_ids(data)
    main: dict[str, list[str]] = {}
    for unit in data["units"]:
        if unit["from"]:
            main.setdefault(unit["from"][0], []).append(ids[unit["name"]])
    out = {}
    for district in data["former_districts"]:
        names = [ids[n] for n in district["successors"]]
        first = [s for s in main.get(district["name"], []) if s in names]
        out[district_id(district["name"])] = first[:1] + [n for n in names if n not in first[:1]]
    return out


def commune_offices(data: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    data = data or load_data()
    ids = commune_ids(data)
    offices = []
    for unit in data["units"]:
        oid = ids[unit["name"]]
        kind_name = unit["name"].split(" ")[0]  # Phường, Xã, Đặc (khu)
        place = unit["name"].removeprefix("Đặc khu ").removeprefix(f"{kind_name} ")
        offices.append(
            {
                "id": oid,
                "name": f"Văn phòng Đảng ủy {KIND_NAMES[unit['kind']]} {place}",
                "code": "ĐU",
                "parent_id": "tu-hcm",
                "units": [{"id": f"{oid}.{u}", "name": n} for u, n in COMMUNE_UNITS],
                "opened_on": CHANGE.isoformat(),
            }
        )
    return offices


def city_offices(current: dict[str, Any]) -> dict[str, Any]:
    """The offices file of today's city, keeping the top office and the former districts of `current`."""
    kept = [o for o in current["offices"] if not o.get("opened_on")]
    kept = [o for o in kept if o["id"] == "tu-hcm" or o["id"] in successors()]
    agencies = [
        {
            "id": oid,
            "name": f"Văn phòng {name}",
            "code": "ĐU",
            "parent_id": "tu-hcm",
            "units": [{"id": f"{oid}.{u}", "name": n} for u, n in COMMUNE_UNITS[:3]],
        }
        for oid, name in AGENCIES
    ]
    communes = commune_offices()
    ids = [o["id"] for o in kept + agencies + communes]
    if len(set(ids)) != len(ids):
        raise ValueError("two offices would share an id")
    return {"offices": kept + agencies + communes}


def main() -> int:
    current = json.loads(OFFICES_FILE.read_text(encoding="utf-8"))
    city = city_offices(current)
    OFFICES_FILE.write_text(json.dumps(city, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"{OFFICES_FILE}: {len(city['offices'])} offices")
    return 0


if __name__ == "__main__":
    sys.exit(main())
