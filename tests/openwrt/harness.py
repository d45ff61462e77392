"""The OpenWrt tier's scratch router: the init script and hotplug hooks under BusyBox ash.

Each test gets a scratch root laid out like the router's: the real
files/etc/init.d/dprive, hotplug hooks, /usr/share/dprive helpers and the
default /etc/config/dprive, copied with their absolute paths (/etc/, /var/,
/usr/, /lib/, /tmp/) moved under the scratch root, and stand-ins (tests/openwrt/standins, each a few lines written
for these tests) for rc.common, procd's shell API and json_*, uci,
/lib/functions.sh, network.sh, logger, chown and /etc/init.d/dnsmasq. Each
stand-in appends what it was told to record.log; the tests read it back with
the scratch root taken out again, so they see the router's own paths.
/usr/sbin/dprive is the real `dprive` (recorded, then run).
What is not tested here: the real procd, ubus, fw4 and dnsmasq; the stand-ins
only model what the comments in them say.
"""

import pathlib
import re
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
FILES = REPO / "files"
STANDINS = pathlib.Path(__file__).resolve().parent / "standins"
BUSYBOX = shutil.which("busybox")
REAL_DPRIVE = pathlib.Path(sys.executable).parent / "dprive"

# An OpenWrt default dnsmasq section (what /etc/config/dhcp ships with).
DHCP_DEFAULT = """config dnsmasq
\toption domainneeded '1'
\toption localise_queries '1'
\toption rebind_protection '1'
\toption local '/lan/'
\toption domain 'lan'
\toption expandhosts '1'
\toption authoritative '1'
\toption readethers '1'
\toption leasefile '/tmp/dhcp.leases'
\toption resolvfile '/tmp/resolv.conf.d/resolv.conf.auto'
\toption localservice '1'

config dhcp 'lan'
\toption interface 'lan'
\toption start '100'
\toption limit '150'
\toption leasetime '12h'
"""

_ABSOLUTE = re.compile(r"(?<![\w./-])/(?:etc|var|usr|lib|tmp)/")


def rewrite(text, root):
    """The router's absolute paths moved under the scratch root."""
    return _ABSOLUTE.sub(lambda m: root + m.group(0), text)


class Router:
    """A scratch root with the package's scripts and the stand-ins installed."""

    def __init__(self, root):
        self.root = root
        self.rootstr = str(root)
        for sub in ("bin", "etc/config", "etc/init.d", "etc/rc.d", "etc/hotplug.d/iface",
                    "etc/hotplug.d/ntp", "lib/functions", "lib/initscripts",
                    "usr/sbin", "usr/share/dprive", "var/run", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        # The package's files, paths moved under the root.
        self._install(FILES / "etc/init.d/dprive", "lib/initscripts/dprive", rewrite_paths=True)
        for helper in ("dnsmasq.sh", "jail.sh"):
            self._install(FILES / "usr/share/dprive" / helper, "usr/share/dprive/" + helper,
                          rewrite_paths=True)
        for hook in ("iface", "ntp"):
            self._install(FILES / "etc/hotplug.d" / hook / "95-dprive",
                          "etc/hotplug.d/%s/95-dprive" % hook, rewrite_paths=True)
        # The config's paths too (control_socket must be in the script's RUN_DIR).
        self._install(FILES / "etc/config/dprive", "etc/config/dprive", rewrite_paths=True)
        (root / "etc/config/dhcp").write_text(DHCP_DEFAULT)
        # The stand-ins.
        self._install(STANDINS / "record.sh", "lib/record.sh")
        self._install(STANDINS / "rc.common", "etc/rc.common")
        self._install(STANDINS / "lib/functions.sh", "lib/functions.sh")
        self._install(STANDINS / "lib/functions/procd.sh", "lib/functions/procd.sh")
        self._install(STANDINS / "lib/functions/network.sh", "lib/functions/network.sh")
        self._install(STANDINS / "bin/logger", "bin/logger", mode=0o755)
        self._install(STANDINS / "bin/chown", "bin/chown", mode=0o755)
        self._install(STANDINS / "dnsmasq.init", "etc/init.d/dnsmasq", mode=0o755)
        self._install(STANDINS / "dprive.init", "etc/init.d/dprive", mode=0o755)
        self._install(STANDINS / "dprive.sbin", "usr/sbin/dprive", mode=0o755)
        uci = root / "bin/uci"
        # -S: no site start-up (a router's script calls uci dozens of times).
        uci.write_text("#!%s -S\nimport sys\nsys.path.insert(0, %r)\n" % (sys.executable, str(REPO / "src"))
                       + (STANDINS / "uci.py").read_text())
        uci.chmod(0o755)
        self.env = {
            "PATH": "%s/bin:/usr/sbin:/usr/bin:/sbin:/bin" % root,
            "DPRIVE_ROOT": self.rootstr,
            "DPRIVE_REAL": str(REAL_DPRIVE),
            "LC_ALL": "C",
        }

    def _install(self, source, dest, rewrite_paths=False, mode=None):
        text = source.read_text()
        if rewrite_paths:
            text = rewrite(text, self.rootstr)
        path = self.root / dest
        path.write_text(text)
        path.chmod(mode if mode is not None else source.stat().st_mode & 0o777)

    # --- driving ---------------------------------------------------------------

    def init(self, *args, check=True):
        """`/etc/init.d/dprive ARGS` on the router."""
        done = subprocess.run([str(self.root / "etc/init.d/dprive"), *args], env=self.env,
                              capture_output=True, text=True, timeout=60)
        if check and done.returncode not in (0,):
            raise AssertionError("init.d/dprive %s: %d\n%s%s" % (
                " ".join(args), done.returncode, done.stdout, done.stderr))
        return done

    def hotplug(self, subsystem, **env):
        """What hotplug-call does: source each hook of SUBSYSTEM in a subshell."""
        hook = self.root / "etc/hotplug.d" / subsystem / "95-dprive"
        done = subprocess.run([BUSYBOX, "ash", "-c", '( . "$1" )', "hotplug", str(hook)],
                              env=dict(self.env, **env), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    def set_wan(self, wan="", wan6=""):
        (self.root / "network.wan").write_text(wan)
        (self.root / "network.wan6").write_text(wan6)

    # --- reading back --------------------------------------------------------------

    def records(self):
        """[(what, arg, ...)] in call order, the scratch root taken out."""
        path = self.root / "record.log"
        if not path.exists():
            return []
        text = path.read_text().replace(self.rootstr, "")
        return [tuple(line.split("\t")) for line in text.splitlines()]

    def calls(self, what):
        return [r[1:] for r in self.records() if r[0] == what]

    def clear(self):
        (self.root / "record.log").unlink(missing_ok=True)

    def config(self, name):
        """The committed /etc/config/NAME as [(type, name, {option: value})]."""
        from dprive.uci import parse_uci
        out = []
        for section in parse_uci((self.root / "etc/config" / name).read_text(), name):
            options = {}
            for opt in section.options:
                if opt.is_list:
                    options.setdefault(opt.name, []).append(opt.value)
                else:
                    options[opt.name] = opt.value
            out.append((section.type, section.name, options))
        return out

    def dnsmasq(self):
        """The committed options of the first dnsmasq section."""
        return next(s[2] for s in self.config("dhcp") if s[0] == "dnsmasq")

    def set_main(self, **options):
        """Set main options of the scratch /etc/config/dprive (as a user edit)."""
        path = self.root / "etc/config/dprive"
        text = path.read_text()
        for name, value in options.items():
            line = "\toption %s '%s'" % (name, value)
            text, count = re.subn(r"(?m)^\toption %s '[^']*'$" % name, line, text)
            if not count:
                text = text.replace("config dprive 'main'\n", "config dprive 'main'\n%s\n" % line)
        path.write_text(text)
