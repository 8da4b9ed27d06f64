"""Where the shared test data lives: ../shared beside the checkout (never copied into the project)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TESTDATA = SHARED / "testdata"
