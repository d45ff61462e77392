"""Command line: `dprive run|check|status|gateway|options|--version`.

`dprive run` and `dprive run --config FILE`, the init script's command
lines, are read without argparse: it would stay in the daemon's memory
(with gettext and re, about 0.9 MB of RSS) for one parse. Any other command
line goes through argparse, so its help, errors and abbreviations are argparse's.
"""

import sys

from dprive import __version__

DEFAULT_CONFIG = "/etc/config/dprive"
DEFAULT_GATEWAY_CONFIG = "/etc/config/dprive-gateway"
EXIT_CONFIG_ERROR = 2


def _load(args):
    """The settings, or None after printing every problem (`check` and `run` say the same)."""
    from dprive.config import ConfigError, load_config
    try:
        return load_config(args.config)
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return None


def _cmd_check(args):
    settings = _load(args)
    if settings is None:
        return EXIT_CONFIG_ERROR
    enabled = [u for u in settings.upstreams if u.enabled]
    print("%s: OK (%d upstreams, %d enabled)" % (args.config, len(settings.upstreams), len(enabled)))
    return 0


def _cmd_run(args):
    settings = _load(args)
    if settings is None:
        return EXIT_CONFIG_ERROR
    from dprive.io.daemon import run_daemon
    return run_daemon(settings)


def _cmd_gateway(args):
    from dprive.gateway.config import ConfigError, load_gateway_config
    try:
        settings = load_gateway_config(args.config)
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return EXIT_CONFIG_ERROR
    from dprive.tls import dtls_engines, dtls_support
    choice = dtls_engines.choose(dtls_support.GATEWAY, settings.dtls_engine)
    if choice.engine is None:
        from dprive.gateway.status import report_unavailable
        return report_unavailable(settings, choice)
    from dprive.gateway.server import run_gateway
    return run_gateway(settings, choice)


def _cmd_options(args):
    from dprive.config_docs import SECTIONS, options_reference
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        print("dprive options: no section %s (sections: %s)"
              % (", ".join(unknown), " ".join(SECTIONS)), file=sys.stderr)
        return EXIT_CONFIG_ERROR
    sys.stdout.write(options_reference(args.sections or ["main", "upstream"]))
    return 0


def _cmd_status(args):
    from dprive.status_client import print_status
    return print_status(args)


class _RunArgs:
    def __init__(self, config):
        self.config = config
        self.func = _cmd_run


def quick_run_args(argv):
    """The arguments of `run` or `run --config FILE`; None for any other command line."""
    if argv == ["run"]:
        return _RunArgs(DEFAULT_CONFIG)
    if len(argv) == 3 and argv[:2] == ["run", "--config"] and not argv[2].startswith("-"):
        return _RunArgs(argv[2])
    return None


def build_parser():
    import argparse
    parser = argparse.ArgumentParser(prog="dprive", description=__doc__)
    parser.add_argument("--version", action="version", version="dprive " + __version__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (
        ("run", _cmd_run, "run the forwarder"),
        ("check", _cmd_check, "validate the config file and exit (status 2 on errors)"),
        ("status", _cmd_status, "show the running daemon's sessions"),
        ("gateway", _cmd_gateway, "serve DNS over DTLS in front of a resolver"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", default=DEFAULT_GATEWAY_CONFIG if name == "gateway"
                         else DEFAULT_CONFIG, help="UCI config file (default %(default)s)")
        cmd.set_defaults(func=func)
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="print the raw JSON for programs")
            cmd.add_argument("--socket", help="control socket (default: from the config)")
    cmd = sub.add_parser("options", help="describe every config option: type, range, default")
    cmd.add_argument("sections", nargs="*", metavar="main|upstream|gateway",
                     help="sections to describe (default: main upstream, of /etc/config/dprive)")
    cmd.set_defaults(func=_cmd_options)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = quick_run_args(argv) or build_parser().parse_args(argv)
    return args.func(args)
