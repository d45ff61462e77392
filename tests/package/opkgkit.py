"""Stand-in for what opkg does with a package's control scripts, for
tests/package only, derived from openwrt/opkg-lede:
- libopkg/pkg.c, pkg_run_script: runs `/bin/sh -c "<info_dir>/<pkg>.<script>
  <args>"` with PKG_ROOT set and PKG_UPGRADE=1 when the package takes part in
  an upgrade, else 0 (and runs nothing in offline-root mode);
- libopkg/opkg_install.c, opkg_install_pkg: on an upgrade both the old and
  the new package are marked as upgrades (is_upgrade = 1), the old package's
  `prerm upgrade <new version>` runs first (prerm_upgrade_old_pkg), then the
  new files replace the old, then opkg_configure runs the new
  `postinst configure`;
- libopkg/opkg_remove.c, opkg_remove_pkg: `prerm remove`, then the files go.
Only the scripts are modelled, under BusyBox ash as on the router: the files
are the ones tests/openwrt/harness.py already put in the scratch root (the
real init script and its helpers); the info dir gets <pkg>.control,
<pkg>.list and the control scripts, their router paths moved under the
scratch root as the harness does.
"""

import subprocess

from tests.openwrt.harness import BUSYBOX, rewrite

INFO = "usr/lib/opkg/info"
SCRIPTS = ("postinst", "postinst-pkg", "prerm", "prerm-pkg")


class Opkg:
    def __init__(self, router):
        self.router = router
        self.info = router.root / INFO
        self.info.mkdir(parents=True, exist_ok=True)

    def _register(self, name, ipk):
        (self.info / f"{name}.control").write_bytes(ipk.control_files["./control"])
        listed = sorted(m.name[1:] for m in ipk.data_members if m.isfile())
        (self.info / f"{name}.list").write_text("".join(p + "\n" for p in listed))
        for script in SCRIPTS:
            path = self.info / f"{name}.{script}"
            path.unlink(missing_ok=True)
            text = ipk.control_files.get("./" + script)
            if text is not None:
                path.write_text(rewrite(text.decode(), self.router.rootstr))
                path.chmod(0o755)

    def _run(self, name, script, args, upgrade):
        path = self.info / f"{name}.{script}"
        if not path.exists():
            return
        env = dict(self.router.env, PKG_ROOT="/", PKG_UPGRADE="1" if upgrade else "0")
        # pkg_run_script runs the script through /bin/sh, BusyBox ash on the router.
        done = subprocess.run([BUSYBOX, "ash", str(path), *args.split()], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{name}.{script} {args}: {done.returncode}\n" \
                                     f"{done.stdout}{done.stderr}"

    def install(self, name, ipk):
        self._register(name, ipk)
        self._run(name, "postinst", "configure", upgrade=False)

    def upgrade(self, name, ipk):
        self._run(name, "prerm", "upgrade " + ipk.control()["Version"], upgrade=True)
        self._register(name, ipk)
        self._run(name, "postinst", "configure", upgrade=True)

    def remove(self, name):
        self._run(name, "prerm", "remove", upgrade=False)
        for path in self.info.glob(f"{name}.*"):
            path.unlink()
