"""The package tier: the .ipk files of package/build_ipk.py and the feed
Makefile package/dprive/Makefile. Fast (a few seconds), no root, no network.
Helpers live in ipkkit.py."""

import pytest

from tests.package.ipkkit import Ipk, load_builder, run_builder


@pytest.fixture(scope="session")
def version():
    return load_builder().version()


@pytest.fixture(scope="session")
def ipks(tmp_path_factory):
    """{package name: Ipk} built once for the tier, as `make ipk` builds them."""
    out = tmp_path_factory.mktemp("ipk")
    paths = run_builder(out)
    return {p.name.split("_")[0]: Ipk(p) for p in paths}
