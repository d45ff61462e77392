"""Fixtures the engine-choice tests share (tests/unit/test_*_engine_choice.py)."""

import pytest

from dprive.tls import mbedtls_lib


@pytest.fixture
def no_mbedtls(monkeypatch, tmp_path):
    """As on a router without libmbedtls: the loader looks in an empty directory."""
    empty = tmp_path / "no-mbedtls"
    empty.mkdir()
    monkeypatch.setenv(mbedtls_lib.LIBDIR_ENV, str(empty))
    monkeypatch.setattr(mbedtls_lib, "_LOADED", None)
    assert mbedtls_lib.unavailable_reason() is not None
