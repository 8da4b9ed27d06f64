"""Where a caller's number is from (SCN-REGION, CID-2): pure, no I/O.

* Landlines (and anything not in the mobile ranges) by ``phonenumbers``' Russian geocoder, with
  the known swap of its data corrected: it names +7 495 «Московская обл.» and +7 496 «г. Москва»,
  while 495 is Moscow and 496 the Moscow oblast.
* Russian mobile (DEF) ranges, which the geocoder only knows as «Россия», from the official
  numbering plan of Rossvyaz (ABC/DEF CSV files: ``АВС/ DEF;От;До;Емкость;Оператор;Регион``,
  semicolon separated, windows-1251 or UTF-8) parsed by `parse_numbering_plan` and stored in the
  ``number_ranges`` table (see `vpbx.services.numbering_plan`).

Region names are normalized (`normalize_region`) so «г. Москва», «Москва» and «москва» compare
equal, and «Свердловская обл.» equals «Свердловская область».
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType

import phonenumbers

__all__ = [
    "NumberRange",
    "decode_plan",
    "load_geocoder",
    "normalize_region",
    "parse_numbering_plan",
    "region_key",
    "region_of",
    "split_number",
]

#: the geocoder's Russian names that are swapped in its data, by national destination code
_SWAPPED = {"495": "Москва", "496": "Московская область"}
_ABBREVIATIONS = (
    (re.compile(r"\bобл\.?(?=\s|$|\|)", re.IGNORECASE), "область"),
    (re.compile(r"\bресп\.?(?=\s|$|\|)", re.IGNORECASE), "Республика"),
    (re.compile(r"\bАО\b"), "автономный округ"),
)


@dataclass(frozen=True, slots=True)
class NumberRange:
    """One row of the numbering plan: numbers code+range_from .. code+range_to."""

    code: int
    range_from: int
    range_to: int
    operator: str
    region: str

    def contains(self, code: int, subscriber: int) -> bool:
        return code == self.code and self.range_from <= subscriber <= self.range_to


def normalize_region(name: str) -> str:
    """A display form: «г. Москва» → «Москва», «Свердловская обл.» → «Свердловская область»."""
    text = " ".join(name.replace("\u00a0", " ").split())
    text = re.sub(r"^(г\.|город)\s*", "", text, flags=re.IGNORECASE)
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return text.strip(" ,;")


def region_key(name: str) -> str:
    """The comparison key of a region name (case- and abbreviation-insensitive)."""
    return normalize_region(name).casefold().replace("ё", "е")


def split_number(number: str) -> tuple[int, int] | None:
    """(ABC/DEF code, 7-digit subscriber number) of a Russian number, or None."""
    digits = re.sub(r"\D", "", number)
    if len(digits) == 11 and digits[0] in "78":
        return int(digits[1:4]), int(digits[4:])
    if len(digits) == 10:
        return int(digits[:3]), int(digits[3:])
    return None


@functools.cache
def load_geocoder() -> ModuleType:
    """The geocoder, its data loaded on first use: about half a second of imports that most
    processes (the API's workers, the command line) never need. The switch loads it at start,
    so the first call asking a region does not stall its loop."""
    from phonenumbers import geocoder

    return geocoder


def region_of(number: str, ranges: Iterable[NumberRange] = ()) -> str | None:
    """The normalized region of a caller number, or None when it cannot be told."""
    split = split_number(number)
    if split is not None:
        code, subscriber = split
        for row in ranges:
            if row.contains(code, subscriber):
                # «г. Москва|Московская обл.» in some files: the first one is the region
                return normalize_region(row.region.split("|")[0])
        national = f"{code:03d}"
        if national in _SWAPPED:
            return _SWAPPED[national]
    digits = re.sub(r"\D", "", number)
    if split is not None and len(digits) == 10:
        digits = "7" + digits
    elif split is not None and digits.startswith("8"):
        digits = "7" + digits[1:]
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    name = str(load_geocoder().description_for_number(parsed, "ru"))
    if not name or name in {"Россия", "Russia"}:
        return None
    return normalize_region(name)


_HEADER_CODE = re.compile(r"^(АВС|ABC|АBC|DEF|ABC/DEF|АВС/DEF)", re.IGNORECASE)


def decode_plan(data: bytes) -> str:
    """The text of a numbering-plan file: UTF-8 (with or without BOM), else windows-1251."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1251")


def parse_numbering_plan(text: str) -> Iterator[NumberRange]:
    """Rows of a Rossvyaz ABC/DEF CSV (``АВС/ DEF;От;До;Емкость;Оператор;Регион[;…]``).

    The header is recognized by its first column and skipped; rows that are not numeric are
    refused with a ValueError naming the line.
    """
    reader = csv.reader(io.StringIO(text), delimiter=";")
    for line_no, row in enumerate(reader, start=1):
        cells: Sequence[str] = [c.strip() for c in row]
        if not any(cells):
            continue
        if line_no == 1 and _HEADER_CODE.match(cells[0].replace(" ", "")):
            continue
        if len(cells) < 6:
            raise ValueError(f"line {line_no}: expected 6 columns, got {len(cells)}")
        try:
            code, start, end = int(cells[0]), int(cells[1]), int(cells[2])
        except ValueError:
            raise ValueError(f"line {line_no}: code and range must be numbers") from None
        if end < start:
            raise ValueError(f"line {line_no}: range end {end} is before its start {start}")
        yield NumberRange(code, start, end, cells[4], cells[5])
