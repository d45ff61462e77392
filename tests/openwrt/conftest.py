"""The OpenWrt tier: see harness.py for the scratch root and its stand-ins."""

import pytest

from tests.openwrt.harness import BUSYBOX, Router


@pytest.fixture
def router(tmp_path):
    if BUSYBOX is None:
        pytest.skip("busybox is not installed (apt-get install busybox): "
                    "the OpenWrt tier runs the scripts under busybox ash")
    return Router(tmp_path / "root")
