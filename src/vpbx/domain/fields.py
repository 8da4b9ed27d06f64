"""Field types with the validation rules the manual states (EMP-2, EMP-3, XFR-3, SCN-AUTH)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from vpbx.domain.errors import ValidationFailed
from vpbx.domain.net_policy import Network, url_refusal

_DIGITS = re.compile(r"[0-9]+")
_INTERNATIONAL = re.compile(r"[1-9][0-9]{9,14}")
# XFR-3: number@server, number@server:port, letters@server, letters@server:port.
_SIP_URI = re.compile(
    r"(?P<user>[A-Za-z0-9][A-Za-z0-9.\-+]*)@(?P<host>[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def check_extension(value: str) -> str:
    """EMP-2: digits only, at most 5, never starting with 88 (88 + extension = pickup)."""
    if not _DIGITS.fullmatch(value):
        raise ValueError("extension must contain digits only / только цифры")
    if len(value) > 5:
        raise ValueError("extension must have at most 5 digits / не более 5 цифр")
    if value.startswith("88"):
        raise ValueError(
            "extension must not start with 88 (reserved for call pickup) / "
            "не может начинаться с 88 (перехват звонка)"
        )
    return value


def fmc_extension_ok(value: str) -> bool:
    """EMP-2/FMC-2: with FMC lines in the account every extension is 2XXX or 2XXXX."""
    return value.startswith("2") and 4 <= len(value) <= 5


def normalize_phone(value: object) -> object:
    """Accept `+7 (495) 123-45-67` style input; store digits only."""
    if isinstance(value, str):
        return re.sub(r"[\s()\-]", "", value).removeprefix("+")
    return value


def check_international(value: str) -> str:
    """EMP-3: a mobile or landline number in international format, digits only (7495XXX8685)."""
    if not _INTERNATIONAL.fullmatch(value):
        raise ValueError(
            "phone number must be in international format: 10 to 15 digits, country code first, "
            "e.g. 74951234567 / номер в международном формате"
        )
    return value


def check_sip_uri(value: str) -> str:
    """XFR-3: user@server[:port]; the words `user` and `_` are refused."""
    bare = value.removeprefix("sip:")
    if "_" in bare or "user" in bare.lower():
        raise ValueError(
            'SIP URI must not contain the word "user" or "_" / '
            'SIP URI не должен содержать слово "user" и знак "_"'
        )
    match = _SIP_URI.fullmatch(bare)
    if match is None:
        raise ValueError(
            "SIP URI must look like number@server, number@server:port, letters@server or "
            "letters@server:port"
        )
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError("SIP URI port must be between 1 and 65535")
    return bare


def check_digits(value: str) -> str:
    """SCN-AUTH: an authorization code of any length, digits only."""
    if not _DIGITS.fullmatch(value):
        raise ValueError("code must contain digits only / код может содержать только цифры")
    return value


def check_email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("must be an e-mail address like name@example.com")
    return value


def check_ip_network(value: str) -> str:
    """An IP address or a CIDR network (a SIP line's allowed addresses), in canonical form."""
    text = value.strip()
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=False))
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(
            "нужен IP-адрес или сеть CIDR, например 192.0.2.10 или 192.0.2.0/24 / "
            "must be an IP address or a CIDR network, e.g. 192.0.2.10 or 192.0.2.0/24"
        ) from None


def check_caller_pattern(value: str) -> str:
    """A caller-ID list entry: digits, optionally ending in * for a prefix."""
    body = value.removesuffix("*")
    if not _DIGITS.fullmatch(body) or len(body) > 15:
        raise ValueError("must be up to 15 digits, optionally ending with * for a prefix")
    return value


#: The years a time filter or a simulated call may name: beyond them a shift by the account's zone
#: (or the engine's clock) overflows Python's datetime (year 1..9999), which was a 500.
MIN_YEAR, MAX_YEAR = 1900, 2999


def check_plausible_time(value: dt.datetime) -> dt.datetime:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(
            f"год должен быть от {MIN_YEAR} до {MAX_YEAR} / "
            f"the year must be between {MIN_YEAR} and {MAX_YEAR}"
        )
    return value


Extension = Annotated[str, AfterValidator(check_extension)]
PhoneNumber = Annotated[str, BeforeValidator(normalize_phone), AfterValidator(check_international)]
SipUri = Annotated[str, AfterValidator(check_sip_uri)]
DigitCode = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(check_digits)]
Email = Annotated[str, Field(max_length=254), AfterValidator(check_email)]
CallerPattern = Annotated[
    str, BeforeValidator(normalize_phone), AfterValidator(check_caller_pattern)
]
IpNetwork = Annotated[str, Field(max_length=64), AfterValidator(check_ip_network)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
OptionalText = Annotated[str, Field(max_length=2000)]
Seconds = Annotated[int, Field(ge=1, le=3600)]
PlausibleTime = Annotated[dt.datetime, AfterValidator(check_plausible_time)]


def check_url_field(field_path: str, url: str, allow: Sequence[Network] = ()) -> None:
    """A URL the server will fetch must not name an inside address as written (the SSRF guard
    checks names again once resolved): 422 naming the field."""
    reason = url_refusal(url, allow)
    if reason is not None:
        raise ValidationFailed.one(
            field_path,
            f"адрес внутри сети сервера ({reason}) запрещён / a URL the server fetches must not "
            f"name {reason}; the installation allows inside networks with VPBX_HTTP_ALLOW_NETWORKS",
            "url.inside_address",
        )


def check_fetched_url(value: str, info: ValidationInfo) -> str:
    """Checked when a document is saved (the entity service passes `url_allow` in the
    validation context); stored documents and engine tests validate without it."""
    context = info.context
    if isinstance(context, dict) and "url_allow" in context:
        reason = url_refusal(value, context["url_allow"])
        if reason is not None:
            raise ValueError(
                f"адрес внутри сети сервера ({reason}) запрещён / a URL the server fetches must "
                f"not name {reason}; the installation allows inside networks with "
                "VPBX_HTTP_ALLOW_NETWORKS"
            )
    return value


#: a URL the server requests (a CRM, a webhook): http(s), checked against inside addresses
FetchedUrl = Annotated[
    str, Field(pattern=r"^https?://\S+$", max_length=2000), AfterValidator(check_fetched_url)
]
