# dprive: hooking dnsmasq up to dprive, and putting it back as it was.
# Sourced by /etc/init.d/dprive (needs uci, logger and /etc/init.d/dnsmasq).
#
# Only the first dnsmasq section of /etc/config/dhcp is touched. What it had
# before is kept in a section of dprive's own in the same file, 'dhcp.dprive'
# (type 'dprive', which dnsmasq's init script ignores), committed together with
# the change, so it survives a reboot and a power cut:
#   hooked          '1' while server/noresolv point at dprive
#   saved_server    (list) dnsmasq's own servers before, if any
#   saved_noresolv  dnsmasq's own noresolv before, absent if it was unset
#   canary          '1' while we added the use-application-dns.net entry
# The section is deleted once nothing of ours is left in dnsmasq's settings.
# dnsmasq is restarted only when its settings actually changed.

DPRIVE_DNSMASQ='dhcp.@dnsmasq[0]'
DPRIVE_SAVED='dhcp.dprive'
# dnsmasq's `address=/domain/` with no address answers NXDOMAIN: browsers that
# find use-application-dns.net missing keep their DNS on the router (no DoH).
DPRIVE_CANARY='/use-application-dns.net/'

# dprive_dnsmasq_apply HOOK TARGET CANARY
#   HOOK 1: dnsmasq forwards everything to TARGET (e.g. 127.0.0.1#5453) and
#   ignores resolv.conf; 0: dnsmasq's own server/noresolv come back.
#   CANARY 1: use-application-dns.net answers NXDOMAIN; 0: our entry is removed.
dprive_dnsmasq_apply() {
	local hook="$1" target="$2" canary="$3" before after value

	if ! uci -q get "$DPRIVE_DNSMASQ" >/dev/null; then
		# Nothing to hook (dnsmasq not installed); nothing of ours to undo.
		[ "$hook$canary" = 00 ] || logger -t dprive -p daemon.warn \
			"no dnsmasq section in /etc/config/dhcp: dnsmasq not hooked up to dprive"
		return 0
	fi
	before="$(uci -q show dhcp)"
	uci -q get "$DPRIVE_SAVED" >/dev/null || uci set "$DPRIVE_SAVED=dprive"

	if [ "$hook" = 1 ]; then
		if [ "$(uci -q get "$DPRIVE_SAVED.hooked")" != 1 ]; then
			# First hook-up: remember dnsmasq's own settings.
			dprive_copy_list "$DPRIVE_DNSMASQ.server" "$DPRIVE_SAVED.saved_server"
			if value="$(uci -q get "$DPRIVE_DNSMASQ.noresolv")"; then
				uci set "$DPRIVE_SAVED.saved_noresolv=$value"
			fi
			uci set "$DPRIVE_SAVED.hooked=1"
		fi
		if [ "$(uci -q get "$DPRIVE_DNSMASQ.server")" != "$target" ]; then
			uci -q delete "$DPRIVE_DNSMASQ.server"
			uci add_list "$DPRIVE_DNSMASQ.server=$target"
		fi
		[ "$(uci -q get "$DPRIVE_DNSMASQ.noresolv")" = 1 ] || uci set "$DPRIVE_DNSMASQ.noresolv=1"
	elif [ "$(uci -q get "$DPRIVE_SAVED.hooked")" = 1 ]; then
		dprive_copy_list "$DPRIVE_SAVED.saved_server" "$DPRIVE_DNSMASQ.server"
		if value="$(uci -q get "$DPRIVE_SAVED.saved_noresolv")"; then
			uci set "$DPRIVE_DNSMASQ.noresolv=$value"
		else
			uci -q delete "$DPRIVE_DNSMASQ.noresolv"
		fi
		uci -q delete "$DPRIVE_SAVED.hooked"
		uci -q delete "$DPRIVE_SAVED.saved_server"
		uci -q delete "$DPRIVE_SAVED.saved_noresolv"
	fi

	if [ "$canary" = 1 ]; then
		# An entry the user wrote himself stays his: we neither add nor remove it.
		if [ "$(uci -q get "$DPRIVE_SAVED.canary")" != 1 ] && \
				! dprive_list_has "$DPRIVE_DNSMASQ.address" "$DPRIVE_CANARY"; then
			uci add_list "$DPRIVE_DNSMASQ.address=$DPRIVE_CANARY"
			uci set "$DPRIVE_SAVED.canary=1"
		fi
	elif [ "$(uci -q get "$DPRIVE_SAVED.canary")" = 1 ]; then
		uci -q del_list "$DPRIVE_DNSMASQ.address=$DPRIVE_CANARY"
		uci -q delete "$DPRIVE_SAVED.canary"
	fi

	[ -n "$(uci -q get "$DPRIVE_SAVED.hooked")$(uci -q get "$DPRIVE_SAVED.canary")" ] || \
		uci -q delete "$DPRIVE_SAVED"

	after="$(uci -q show dhcp)"
	[ "$before" = "$after" ] && return 0
	uci commit dhcp
	if [ "$hook" = 1 ]; then
		logger -t dprive "dnsmasq now forwards every query to dprive ($target)"
	else
		logger -t dprive "dnsmasq settings restored"
	fi
	[ -x /etc/init.d/dnsmasq ] && /etc/init.d/dnsmasq restart
	return 0
}

# dprive_copy_list FROM TO: TO becomes a list holding FROM's values, in order
# (values never hold spaces: servers and addresses).
dprive_copy_list() {
	local value
	uci -q delete "$2"
	set -f
	for value in $(uci -q get "$1"); do
		uci add_list "$2=$value"
	done
	set +f
}

# dprive_list_has UCI_PATH VALUE: is VALUE one of the list's values?
dprive_list_has() {
	local value
	set -f
	for value in $(uci -q get "$1"); do
		[ "$value" = "$2" ] && { set +f; return 0; }
	done
	set +f
	return 1
}

# dprive_dnsmasq_target LISTEN_ADDRESSES PORT: where dnsmasq should send its
# queries: a loopback address dprive listens on (IPv4 first), else the first.
dprive_dnsmasq_target() {
	local address first="" v6=""
	for address in $1; do
		[ -n "$first" ] || first="$address"
		case "$address" in
			127.0.0.1|0.0.0.0) echo "127.0.0.1#$2"; return 0 ;;
			::1|::) v6="::1" ;;
		esac
	done
	echo "${v6:-${first:-127.0.0.1}}#$2"
}
