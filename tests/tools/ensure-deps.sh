#!/bin/sh
# Make sure the Debian packages that the tests, `make demo` and `make bench`
# talk to are here: unbound (the DoT upstream), kdig, dnsperf, stubby (the
# peer we compare with) and openssl (throwaway certificates); for the netns
# tier also iptables, conntrack, ping and ss (the carrier NAT and its faults).
# As root, missing ones are installed with apt-get; otherwise we say what to run.
set -eu
need=""
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have unbound || need="$need unbound"
have kdig    || need="$need knot-dnsutils"
have dnsperf || need="$need dnsperf"
have stubby  || need="$need stubby"
have openssl || need="$need openssl"
have iptables  || need="$need iptables"
have conntrack || need="$need conntrack"
have ping      || need="$need iputils-ping"
have ss        || need="$need iproute2"
have tshark    || need="$need tshark"
# The OpenWrt tier runs the init script and hotplug hooks under busybox ash.
have busybox   || need="$need busybox"
# The netns tier puts a real dnsmasq in front of dprive, as on the router.
have dnsmasq   || need="$need dnsmasq-base"
# The static checks of luci-app-dprive (tests/luci_static) run acorn and
# ESLint, installed by `npm ci`.
have node      || need="$need nodejs"
have npm       || need="$need npm"
# The LuCI tier drives the real views in headless Chromium (Debian's package).
have chromium  || need="$need chromium"
# The gateway keeps its DTLS ticket keys in a file only on a shared libssl:
# Debian's pyOpenSSL (the venv's wheel links OpenSSL statically).
/usr/bin/python3 -c 'import OpenSSL' 2>/dev/null || need="$need python3-openssl"
# DTLS on mbedTLS (tls/mbedtls_lib.py): Debian 12's libmbedtls 2.28 is the one
# the loader finds; 3.6 comes from Debian 13's packages (`make mbedtls36`).
ldconfig -p 2>/dev/null | grep -q 'libmbedtls\.so\.14 ' || need="$need libmbedtls14"
# The ubus ACL test runs the daemon as the package's user, whom its
# /usr/share/acl.d file names (ubusd maps an unknown user to root only).
if [ "$(id -u)" = 0 ] && ! id dprive >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin dprive
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing Debian packages:$need" >&2
	echo "run as root: apt-get update && apt-get install -y --no-install-recommends$need" >&2
	exit 1
fi
echo "installing Debian packages:$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# The packages' own services are not wanted: tests start their own copies.
apt-get install -y -q --no-install-recommends $need >/dev/null
for svc in unbound stubby; do
	if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
