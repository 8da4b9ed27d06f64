"""`python -m vpbx.cli.openapi [FILE]`: the OpenAPI document the API serves, without a server.

The web cabinet's typed client (`web/src/api/schema.d.ts`, `make web-client`) is generated
from it, and `tests/api/test_web_client.py` checks that the committed client still matches.
The app is built as `vpbx run` builds it; its engine never connects (building the document
reads no database).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vpbx.api.app import create_api
from vpbx.storage.db import make_async_engine


def document() -> dict[str, Any]:
    engine = make_async_engine("sqlite:///:memory:")
    app = create_api(engine, lambda: dt.datetime.now(dt.UTC))
    return app.openapi()


def canonical(doc: dict[str, Any]) -> str:
    """One text per document: keys sorted, two-space indents, UTF-8 (Russian as is)."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(doc).encode()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    text = canonical(document())
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
