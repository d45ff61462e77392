"""Option documentation that survives LuCI: `dprive options` and the default config
files (with their read-only copies under /usr/share/dprive) are made from schema.py
only (dprive.config_docs, package/gen_default_config.py), so they say the same."""

import importlib.util
import re
import subprocess
import sys

from dprive import config_docs, schema
from dprive.config import load_config

from tests.tools.common import REPO_ROOT

FILES = REPO_ROOT / "files"


def generator():
    spec = importlib.util.spec_from_file_location(
        "gen_default_config", REPO_ROOT / "package" / "gen_default_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dprive(*args):
    return subprocess.run([sys.executable, "-m", "dprive", *args], capture_output=True,
                          text=True, timeout=30, cwd=str(REPO_ROOT))


def comment_above(lines, number):
    """The comment block right above line `number`, as one string."""
    block = []
    while number > 0 and lines[number - 1].lstrip().startswith("#"):
        number -= 1
        block.insert(0, lines[number].lstrip()[1:].strip())
    return " ".join(block)


def test_the_shipped_files_are_what_the_generator_writes():
    written = generator().outputs()
    assert sorted(p.relative_to(FILES).as_posix() for p in written) == [
        "etc/config/dprive", "etc/config/dprive-gateway",
        "usr/share/dprive/dprive-gateway.example", "usr/share/dprive/dprive.example"]
    for path, text in written.items():
        assert path.read_text() == text, "%s is stale: run python3 package/gen_default_config.py" % path
    check = subprocess.run([sys.executable, str(REPO_ROOT / "package" / "gen_default_config.py"),
                            "--check"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_every_comment_above_an_option_is_the_schema_text():
    for kind, options in (("dprive", {**schema.MAIN_OPTIONS, **schema.UPSTREAM_OPTIONS}),
                          ("gateway", schema.GATEWAY_OPTIONS)):
        path = FILES / config_docs.FILES[kind][0].lstrip("/")
        lines = path.read_text().split("\n")
        seen = set()
        for number, line in enumerate(lines):
            words = line.split()
            if not words or words[0] not in ("option", "list"):
                continue
            if lines[number - 1].split()[:2] == ["list", words[1]]:
                continue          # more values of the list above
            spec = options[words[1]]
            assert comment_above(lines, number) == "%s %s" % (
                config_docs.option_text(spec), config_docs.value_text(spec)), (path, number + 1)
            seen.add(words[1])
        if kind == "gateway":
            assert seen == set(options)
        else:
            assert set(schema.MAIN_OPTIONS) <= seen


def test_upstream_options_not_in_the_default_sections_are_described_in_the_file():
    text = (FILES / "etc" / "config" / "dprive").read_text()
    flat = " ".join(line.lstrip("#").strip() for line in text.split("\n") if line.startswith("#"))
    for name in ("spki", "transport", "keepalive_idle_s", "keepalive_interval_s", "keepalive_count"):
        spec = schema.UPSTREAM_OPTIONS[name]
        assert "%s%s: %s %s" % (name, " (list)" if spec.get("list") else "",
                                config_docs.option_text(spec), config_docs.value_text(spec)) in flat


def test_the_default_files_point_at_the_documentation_that_survives():
    for kind, (installed, example, sections) in config_docs.FILES.items():
        text = (FILES / installed.lstrip("/")).read_text()
        head = " ".join(line.lstrip("#").strip() for line in text.split("\n\n")[0].split("\n"))
        keys = " ".join(key for key, _, _ in sections)
        assert "`dprive options %s`" % keys in head and example in head, head
        assert (FILES / example.lstrip("/")).read_text() == text


def test_the_default_files_load_with_schema_values():
    cfg = load_config(FILES / "usr" / "share" / "dprive" / "dprive.example")
    for name, spec in schema.MAIN_OPTIONS.items():
        assert getattr(cfg, name) == spec["default"], name
    assert [u.name for u in cfg.upstreams] == [u["name"] for u in schema.DEFAULT_UPSTREAMS]


def test_dprive_options_describes_every_option_with_type_range_and_default():
    for args, options in (((), {**schema.MAIN_OPTIONS, **schema.UPSTREAM_OPTIONS}),
                          (("gateway",), schema.GATEWAY_OPTIONS)):
        run = dprive("options", *args)
        assert run.returncode == 0, run.stderr
        flat = re.sub(r"\s+", " ", run.stdout)
        for name, spec in options.items():
            entry = "%s%s %s %s" % (name, " (list)" if spec.get("list") else "",
                                    config_docs.option_text(spec), config_docs.value_text(spec))
            assert re.sub(r"\s+", " ", entry) in flat, name
    ports = re.sub(r"\s+", " ", dprive("options", "main").stdout)
    assert "listen_port Port to answer DNS on; dnsmasq forwards to it." in ports
    assert "Value: an integer from 1 to 65535. Default: 5453." in ports
    assert "upstream" not in dprive("options", "main").stdout.split("\n")[0]


def test_dprive_options_refuses_an_unknown_section():
    run = dprive("options", "upstreams")
    assert run.returncode == 2
    assert run.stderr.strip() == ("dprive options: no section upstreams "
                                  "(sections: main upstream gateway)")


def test_comment_lines_stay_within_the_width():
    for path in generator().outputs():
        for number, line in enumerate(path.read_text().split("\n"), 1):
            if line.lstrip().startswith("#") and " " in line.strip()[2:]:
                width = len(line.expandtabs(8))
                assert width <= config_docs.WIDTH + 8, (path, number, line)
