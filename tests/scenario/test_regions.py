"""SCN-REGION data: phonenumbers for landlines (495/496 corrected), the numbering-plan importer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dbs import database_fixture
from vpbx.domain.regions import (
    NumberRange,
    decode_plan,
    normalize_region,
    parse_numbering_plan,
    region_key,
    region_of,
)
from vpbx.services.numbering_plan import import_numbering_plan
from vpbx.services.scenario_config import number_ranges_for
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine

FIXTURES = Path(__file__).parent / "fixtures"
migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("74951234567", "Москва"),  # phonenumbers' Russian data says «Московская обл.»
        ("74961234567", "Московская область"),  # and «г. Москва» for 496: swapped back
        ("74991234567", "Москва"),
        ("78121234567", "Санкт-Петербург"),
        ("73432123456", "Свердловская область"),
        ("84012123456", "Калининградская область"),  # 8 prefix
        ("79161234567", None),  # mobile: only the numbering plan knows
        ("12025550100", "Washington D.C."),
        ("123", None),
        ("", None),
    ],
)
def test_landline_regions(number: str, region: str | None) -> None:
    assert region_of(number) == region


def test_mobile_region_from_ranges() -> None:
    ranges = [NumberRange(916, 0, 9999999, "МТС", "г. Москва|Московская обл.")]
    assert region_of("79161234567", ranges) == "Москва"
    assert region_of("79171234567", ranges) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("г. Москва", "москва"),
        ("Свердловская обл.", "Свердловская область"),
        ("Респ. Татарстан", "республика татарстан"),
    ],
)
def test_region_names_compare_normalized(a: str, b: str) -> None:
    assert region_key(a) == region_key(b)


def test_normalize_keeps_names_readable() -> None:
    assert normalize_region("  г.  Санкт-Петербург ") == "Санкт-Петербург"


def test_parse_the_windows_1251_fixture() -> None:
    rows = list(parse_numbering_plan(decode_plan((FIXTURES / "DEF-9xx-sample.csv").read_bytes())))
    assert len(rows) == 5
    assert rows[1] == NumberRange(
        912, 2000000, 2999999, 'ПАО "Мобильные ТелеСистемы"', "Свердловская обл."
    )


def test_parse_the_utf8_fixture_and_refuse_garbage() -> None:
    rows = list(parse_numbering_plan(decode_plan((FIXTURES / "ABC-3xx-sample.csv").read_bytes())))
    assert [r.code for r in rows] == [343, 4012]
    with pytest.raises(ValueError, match="line 2"):
        list(parse_numbering_plan("АВС/ DEF;От;До;Емкость;Оператор;Регион\nx;1;2;3;4;5\n"))
    with pytest.raises(ValueError, match="before its start"):
        list(parse_numbering_plan("900;5;1;0;op;reg\n"))


@pytest.fixture
async def engine(migrated_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(migrated_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_import_into_number_ranges_and_look_up(engine: AsyncEngine) -> None:
    data = (FIXTURES / "DEF-9xx-sample.csv").read_bytes()
    async with engine.begin() as conn:
        assert await import_numbering_plan(conn, data) == 5
        # importing again replaces the codes of the file instead of duplicating them
        assert await import_numbering_plan(conn, data) == 5
        count = (
            await conn.execute(sa.select(sa.func.count()).select_from(t.number_ranges))
        ).scalar_one()
        assert count == 5
        ranges = await number_ranges_for(conn, "+7 912 250-00-00")
        assert region_of("79122500000", ranges) == "Свердловская область"
        assert (
            region_of("79872950000", await number_ranges_for(conn, "79872950000"))
            == "Республика Татарстан"
        )
        assert await number_ranges_for(conn, "79123500000") == ()
        assert await number_ranges_for(conn, "12025550100") == ()
