"""The cabinet's typed client (web/src/api/schema.d.ts) was generated from the document the API
serves now: an API change without `make web-client` fails here, not in a browser."""

from __future__ import annotations

import re

from tests.api.conftest import Api
from tests.paths import ROOT
from vpbx.cli import openapi

SCHEMA = ROOT / "web" / "src" / "api" / "schema.d.ts"


def test_committed_client_types_match_the_served_document() -> None:
    header = re.search(r"^// openapi-sha256: ([0-9a-f]{64})$", SCHEMA.read_text(), re.MULTILINE)

    assert header is not None, f"{SCHEMA} has no openapi-sha256 line: run make web-client"
    assert header.group(1) == openapi.digest(openapi.document()), (
        "the API's OpenAPI document changed since web/src/api/schema.d.ts was generated: "
        "run `make web-client` and commit the result"
    )


def test_the_dumped_document_is_the_one_served_over_http(api: Api) -> None:
    assert openapi.canonical(api.openapi()) == openapi.canonical(openapi.document())
