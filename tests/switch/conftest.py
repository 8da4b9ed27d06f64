"""Fixtures shared by the real-peer tests of the switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.switch.harness import tone_file


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    """30 s of 800 Hz: the default voice of a test phone."""
    return tone_file(tmp_path / "tone.wav", 800.0, seconds=30)
