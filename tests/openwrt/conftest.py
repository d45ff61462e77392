"""The OpenWrt tier: see harness.py for the scratch root and its stand-ins."""

import pytest

from tests.openwrt.harness import BUSYBOX, Router


@pytest.fixture
def router(tmp_path):
    if BUSYBOX is None:
        pytest.skip("busybox is not installed (apt-get install busybox): "
                    "the OpenWrt tier runs the scripts under busybox ash")
    return Router(tmp_path / "root")


@pytest.fixture
def ujail_ubusd(tmp_path):
    """The ubusd procd's real ujail needs (skips without a built ujail); the
    environment to run ujail with."""
    from tests.openwrt import jail_runners
    from tests.tools import common
    jail_runners.require_ujail()
    proc = jail_runners.start_ubusd(tmp_path / "ujail-ubusd.log")
    yield dict(jail_runners.UBUSD_ENV)
    common.stop_process(proc)
