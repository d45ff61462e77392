# Stand-in for the package functions of OpenWrt's /lib/functions.sh
# (openwrt/openwrt, package/base-files/files/lib/functions.sh): default_postinst,
# default_prerm, add_group_and_user and the user/group helpers they call, for
# tests/package only. Same steps in the same order, on a running system
# (IPKG_INSTROOT empty); every path is under $DPRIVE_ROOT, the scratch root of
# tests/openwrt/harness.py. The tests append this to the scratch root's
# /lib/functions.sh, as the real file holds both.
# Not modelled: image builds (rc.common enable under $IPKG_INSTROOT), apk's
# lib/apk/packages, alternatives, rootfs-overlay, kmodloader, sysctl,
# uci-defaults, the /var/lock locks, additional groups of Require-User.

group_exists() { grep -qs "^${1}:" "$DPRIVE_ROOT/etc/group"; }
user_exists() { grep -qs "^${1}:" "$DPRIVE_ROOT/etc/passwd"; }
group_add() {
	[ -f "$DPRIVE_ROOT/etc/group" ] || return 1
	echo "${1}:x:${2}:" >> "$DPRIVE_ROOT/etc/group"
}
user_add() {
	local name="$1" uid="$2" gid="$3" desc="${4:-$1}" home="${5:-/var/run/$1}" shell="${6:-/bin/false}"
	[ -z "$gid" ] && gid=$uid
	[ -f "$DPRIVE_ROOT/etc/passwd" ] || return 1
	echo "${name}:x:${uid}:${gid}:${desc}:${home}:${shell}" >> "$DPRIVE_ROOT/etc/passwd"
	echo "${name}:x:0:0:99999:7:::" >> "$DPRIVE_ROOT/etc/shadow"
}
group_add_user() {
	local grp delim=","
	grp=$(grep -s "^${1}:" "$DPRIVE_ROOT/etc/group")
	echo "$grp" | cut -d: -f4 | grep -q $2 && return
	echo "$grp" | grep -q ":$" && delim=""
	sed -i "s/$grp/$grp$delim$2/g" "$DPRIVE_ROOT/etc/group"
}

add_group_and_user() {
	local pkgname="$1"
	local rusers="$(sed -ne 's/^Require-User: *//p' "$DPRIVE_ROOT/usr/lib/opkg/info/${pkgname}.control" 2>/dev/null)"
	local tuple oIFS="$IFS" uid gid uname gname
	for tuple in $rusers; do
		IFS=":"
		set -- $tuple; uname="$1"; gname="$2"
		IFS="="
		set -- $uname; uname="$1"; uid="$2"
		set -- $gname; gname="$1"; gid="$2"
		IFS="$oIFS"
		if [ -n "$gname" ] && [ -n "$gid" ]; then
			group_exists "$gname" || group_add "$gname" "$gid"
		fi
		if [ -n "$uname" ]; then
			user_exists "$uname" || user_add "$uname" "$uid" "$gid"
		fi
		if [ -n "$uname" ] && [ -n "$gname" ]; then
			group_add_user "$gname" "$uname"
		fi
	done
}

default_postinst() {
	local pkgname="$(basename ${1%.*})"
	local filelist="$DPRIVE_ROOT/usr/lib/opkg/info/${pkgname}.list"
	local ret=0
	[ -e "$filelist" ] && add_group_and_user "${pkgname}"
	rm -f "$DPRIVE_ROOT"/tmp/luci-indexcache.*
	if [ -f "$DPRIVE_ROOT/usr/lib/opkg/info/${pkgname}.postinst-pkg" ]; then
		( . "$DPRIVE_ROOT/usr/lib/opkg/info/${pkgname}.postinst-pkg" )
		ret=$?
	fi
	for i in $(grep -s "^/etc/init.d/" "$filelist"); do
		if [ "$PKG_UPGRADE" != "1" ]; then
			"$DPRIVE_ROOT$i" enable
		fi
		"$DPRIVE_ROOT$i" start
	done
	return $ret
}

default_prerm() {
	local pkgname="$(basename ${1%.*})"
	local filelist="$DPRIVE_ROOT/usr/lib/opkg/info/${pkgname}.list"
	local ret=0
	if [ -f "$DPRIVE_ROOT/usr/lib/opkg/info/${pkgname}.prerm-pkg" ]; then
		( . "$DPRIVE_ROOT/usr/lib/opkg/info/${pkgname}.prerm-pkg" )
		ret=$?
	fi
	for i in $(grep -s "^/etc/init.d/" "$filelist"); do
		if [ "$PKG_UPGRADE" != "1" ]; then
			"$DPRIVE_ROOT$i" disable
		fi
		"$DPRIVE_ROOT$i" stop
	done
	return $ret
}
