"""An older pyOpenSSL, made from the installed one by taking names away.

Stands in for releases that lack an API dprive's DTLS uses, as pyOpenSSL's own
src/OpenSSL/SSL.py and CHANGELOG.rst at each tag show: e.g. before 23.1.0
(pyca/pyopenssl#1180) `Connection` has no DTLSv1_get_timeout and no
DTLSv1_handle_timeout; before 22.0.0 (#1026) `Context` has no cookie callbacks.
The names go in a sitecustomize module, which Python imports at start-up, so a
`dprive` process started with `env(...)` sees that pyOpenSSL from its first
import on. Nothing else of pyOpenSSL is changed.
"""

import os

from tests.tools import common


def site_dir(directory, *names):
    """Write directory/sitecustomize.py deleting `names` ('Connection.DTLSv1_get_timeout')."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["from OpenSSL import SSL"]
    for name in names:
        owner, attribute = name.split(".")
        lines.append("del SSL.%s.%s" % (owner, attribute))
    (directory / "sitecustomize.py").write_text("\n".join(lines) + "\n")
    return directory


def env(directory):
    """The environment of a `python -m dprive` under that pyOpenSSL."""
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join([str(directory), str(common.REPO_ROOT / "src")])
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    environ["PYTHONUNBUFFERED"] = "1"
    return environ
