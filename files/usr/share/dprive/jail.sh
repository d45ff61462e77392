# dprive: the daemon's procd jail (ujail). Sourced by /etc/init.d/dprive.
#
# procd starts the instance through /sbin/ujail when that exists (procd's
# service/instance.c, instance_jail_parse and jail_run); without it procd
# drops the jail and runs dprive as the dprive user, unjailed, as before. In
# the jail / is a tmpfs remounted read-only ('ronly') holding only the paths
# mounted here (each read-only but RUN_DIR), plus a /dev of its own (null,
# zero, full, random, urandom, tty) and /etc/passwd and /etc/group (ujail adds
# those for -U). No /proc, no /sys, no capabilities (an empty set: as the
# dprive user it had none before either, so a listen_port below 1024 fails as
# it did), no new privileges. What dprive opens, found with strace -f -e trace=file,network:
#   python3, its standard library and extension modules (and their libraries),
#   libmbedtls* (DNS over DTLS, loaded through ctypes),
#   /usr/lib/dprive, the config, the CA bundle, /etc/TZ and /etc/localtime
#   (the local time of log lines; ujail skips whichever is not there),
#   RUN_DIR (the control socket, written), /var/run/ubus/ubus.sock (below).
# Logs go to stderr, which procd reads through a pipe: no /dev/log.
# tests/openwrt/test_jail_run.py runs the daemon with only these paths visible.

DPRIVE_CAPABILITIES=/etc/capabilities/dprive.json
# ubusd's directory, not procd's 'ubus' jail flag: that binds the socket file
# (ujail -u), and ubusd unlinks and recreates it whenever it starts
# (ubusd_main.c), so after a ubusd restart the jail would keep the dead one
# and python3-ubus could never connect again. Through the directory the jail
# sees the new socket; read-only, since connecting needs no write access to
# the file system (only to the socket, which is 0666).
DPRIVE_UBUS_DIR=/var/run/ubus
# Root's copy of the config, the one the daemon reads. The jail cannot mount
# /etc/config/dprive itself: a bind mount keeps the file of the start, and uci
# commit (LuCI's Save & Apply too) writes a new file and renames it over the
# old one, so the daemon would reread the old settings on every SIGHUP.
DPRIVE_JAIL_DIR=/var/etc/dprive
DPRIVE_JAIL_CONFIG=/var/etc/dprive/dprive

# dprive_jail_config FILE: copy FILE to DPRIVE_JAIL_CONFIG, atomically (the
# daemon may be rereading it). Root's, world-readable like /etc/config/dprive
# (it holds no secret: addresses, names, public key pins).
dprive_jail_config() {
	mkdir -p "$DPRIVE_JAIL_DIR"
	chmod 0755 "$DPRIVE_JAIL_DIR"
	cp "$1" "$DPRIVE_JAIL_CONFIG.new" || return 1
	chmod 0644 "$DPRIVE_JAIL_CONFIG.new"
	mv -f "$DPRIVE_JAIL_CONFIG.new" "$DPRIVE_JAIL_CONFIG"
}

# The Python extension modules installed: ujail mounts each one given with
# the libraries it links (libssl, libcrypto, libffi, libubus, ...), which a
# directory mount would not bring along.
dprive_jail_python_modules() {
	find /usr/lib/python3* -name '*.so' 2>/dev/null
}

# libmbedtls, for DoT (tls_engine auto, mbedtls) and DTLS: ctypes dlopen()s it by soname
# (src/dprive/tls/mbedtls_lib.py), so no extension module links it and the
# mounts above would not bring it along. Each name is given, the soname
# links (libmbedtls.so.21) as well as their targets (libmbedtls.so.3.6.6);
# ujail adds what each links (libmbedx509, libmbedcrypto). None installed:
# nothing mounted, and the daemon says which engine it runs instead, or none.
dprive_jail_mbedtls_libs() {
	find /usr/lib /lib -maxdepth 1 -name 'libmbed*.so.*' 2>/dev/null
}

# dprive_jail_options_ok RUN_DIR CA_BUNDLE CONTROL_SOCKET: whether the jail
# can hold these options; prints why not. dprive check cannot know: the
# paths are fine outside the jail, and the jailed daemon would respawn on a
# file it cannot see, logging it missing.
dprive_jail_options_ok() {
	# procd.sh splits and globs every mount argument (for a in $@).
	case "$2" in
		*" "*|*"	"*|*"*"*|*"?"*|*"["*)
			echo "option ca_bundle '$2': procd's jail cannot mount a path with a blank or one of * ? ["
			return 1 ;;
	esac
	# The one directory the jailed daemon may write in: a name right in it
	# (what is left after taking "RUN_DIR/" off has no slash).
	case "${3#"$1"/}" in
		""|*/*)
			echo "option control_socket '$3': in procd's jail dprive can write only in $1/"
			return 1 ;;
	esac
}

# dprive_jail_add RUN_DIR CA_BUNDLE: the jail of the instance being declared
# (between procd_open_instance and procd_close_instance).
dprive_jail_add() {
	local run_dir="$1" ca_bundle="$2"
	procd_add_jail dprive ronly
	procd_set_param no_new_privs 1
	procd_set_param capabilities "$DPRIVE_CAPABILITIES"
	# procd.sh splits and globs these (for a in $@): one pattern per word.
	procd_add_jail_mount /usr/sbin/dprive /usr/bin/python3 '/usr/lib/python3*' /usr/lib/dprive
	procd_add_jail_mount $(dprive_jail_python_modules)
	procd_add_jail_mount $(dprive_jail_mbedtls_libs)
	procd_add_jail_mount "$DPRIVE_JAIL_DIR" "$ca_bundle" /etc/TZ /etc/localtime "$DPRIVE_UBUS_DIR"
	procd_add_jail_mount_rw "$run_dir"
}
