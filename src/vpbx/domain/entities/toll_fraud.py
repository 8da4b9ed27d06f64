"""The toll-fraud guard's settings of an account: where its outgoing calls may go, and how many.

A sub-document of `Account` (one JSON column): the guard is account-wide, like the mature PBXs'
"outbound call restrictions", and travels with the account's settings in the API and the YAML.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from vpbx.domain.entities.base import Document

#: A destination prefix in E.164 digits, without "+": "7" (Russia and Kazakhstan), "7495"
#: (Moscow), "44" (the United Kingdom), "7809" (Russian premium-rate numbers).
E164Prefix = Annotated[
    str,
    Field(
        pattern=r"^[1-9][0-9]{0,14}$",
        description="Префикс номера в формате E.164 без «+» (E.164 prefix without '+'), "
        "например 7495",
    ),
]

#: Russia's geographic and mobile ranges (+7 3xx, 4xx, 8xx, 9xx). Not the whole "7": +7 6xx and
#: +7 7xx are Kazakhstan's, an international call priced as one.
DEFAULT_ALLOWED: tuple[str, ...] = ("73", "74", "78", "79")
#: Russian premium-rate numbers (8-809: information services paid by the caller), the classic
#: toll-fraud destination inside the country.
DEFAULT_BLOCKED: tuple[str, ...] = ("7809",)


class TollFraudPolicy(Document):
    """Защита от мошенничества: ограничения исходящих вызовов на внешние номера (toll-fraud
    guard: restrictions on outgoing calls to outside numbers)."""

    allowed_prefixes: Annotated[
        list[E164Prefix],
        Field(
            max_length=1000,
            description="Разрешённые направления исходящих вызовов: префиксы E.164 без «+» "
            "(allowed destinations). По умолчанию — номера России; международные выключены",
        ),
    ] = list(DEFAULT_ALLOWED)
    blocked_prefixes: Annotated[
        list[E164Prefix],
        Field(
            max_length=1000,
            description="Запрещённые направления (платные номера): сильнее разрешённых, когда "
            "префикс длиннее (blocked destinations, e.g. premium-rate 7809)",
        ),
    ] = list(DEFAULT_BLOCKED)
    max_simultaneous_calls: Annotated[
        int,
        Field(
            ge=0,
            le=100_000,
            description="Одновременных исходящих вызовов не больше (simultaneous outgoing "
            "calls at most; 0 — исходящие запрещены)",
        ),
    ] = 10
    max_minutes_per_hour: Annotated[
        int,
        Field(
            ge=0,
            le=6_000_000,
            description="Минут исходящих разговоров за скользящий час не больше (outgoing "
            "talk minutes per sliding hour at most; 0 — исходящие запрещены)",
        ),
    ] = 600


__all__ = ["DEFAULT_ALLOWED", "DEFAULT_BLOCKED", "E164Prefix", "TollFraudPolicy"]
