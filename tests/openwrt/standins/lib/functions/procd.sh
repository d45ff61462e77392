# Test stand-in for procd's shell API (procd.sh and jshn's json_*): each call
# is recorded. procd's state is modelled just enough for the script's
# decisions: a service whose start declared an instance is running; a start
# that declares none leaves none (procd drops instances no longer declared).
__procd_instances=0
procd_open_service() { __procd_instances=0; record procd_open_service "$@"; }
procd_close_service() {
	if type service_triggers >/dev/null 2>&1; then
		record procd_open_trigger
		service_triggers
		record procd_close_trigger
	fi
	record procd_close_service "$@"
	mkdir -p "$DPRIVE_ROOT/procd"
	: > "$DPRIVE_ROOT/procd/$name.service"
	if [ "$__procd_instances" -gt 0 ]; then
		: > "$DPRIVE_ROOT/procd/$name.running"
	else
		rm -f "$DPRIVE_ROOT/procd/$name.running"
	fi
}
procd_open_instance() {
	__procd_instances=$((__procd_instances + 1))
	__procd_jail=0
	record procd_open_instance "$@"
}
procd_set_param() { record procd_set_param "$@"; }
procd_append_param() { record procd_append_param "$@"; }
procd_close_instance() { __procd_jail=0; record procd_close_instance "$@"; }
# The jail calls as procd's own procd.sh (openwrt/openwrt
# package/system/procd/files/procd.sh: _procd_add_jail, _procd_add_jail_mount,
# _procd_add_jail_mount_rw) turns them into the instance's "jail" table:
# _procd_add_jail keeps only the flags it knows (a misspelt one is dropped
# without a word) and opens the jail's "mount" table; the mount calls add to
# that table only once procd_add_jail opened it (before, json_select jail
# fails and they return); both loop `for a in $@` unquoted, so every argument
# is split at blanks and globbed, one mount per resulting word.
procd_add_jail() {
	local __name="$1" __flag __flags=""
	shift
	for __flag in $@; do
		case "$__flag" in
			log|ubus|procfs|sysfs|ronly|requirejail|netns|userns|cgroupsns)
				__flags="$__flags $__flag" ;;
		esac
	done
	__procd_jail=1
	record procd_add_jail "$__name" $__flags
}
procd_add_jail_mount() {
	local __a
	[ "$__procd_jail" = 1 ] || return
	for __a in $@; do record procd_add_jail_mount "$__a"; done
}
procd_add_jail_mount_rw() {
	local __a
	[ "$__procd_jail" = 1 ] || return
	for __a in $@; do record procd_add_jail_mount_rw "$__a"; done
}
procd_open_data() { record procd_open_data "$@"; }
procd_close_data() { record procd_close_data "$@"; }
procd_add_reload_trigger() { record procd_add_reload_trigger "$@"; }
procd_add_interface_trigger() { record procd_add_interface_trigger "$@"; }
procd_add_raw_trigger() { record procd_add_raw_trigger "$@"; }
procd_kill() {
	record procd_kill "$@"
	rm -f "$DPRIVE_ROOT/procd/$1.running" "$DPRIVE_ROOT/procd/$1.service"
}
procd_running() { [ -e "$DPRIVE_ROOT/procd/$1.running" ]; }
procd_send_signal() {
	record procd_send_signal "$@"
	procd_running "$1"
}
_procd_status() {
	if [ ! -e "$DPRIVE_ROOT/procd/$1.service" ]; then echo "inactive"; return 3; fi
	if procd_running "$1"; then echo "running"; return 0; fi
	echo "not running"
	return 5
}
json_init() { record json_init "$@"; }
json_add_array() { record json_add_array "$@"; }
json_close_array() { record json_close_array "$@"; }
json_add_object() { record json_add_object "$@"; }
json_close_object() { record json_close_object "$@"; }
json_add_string() { record json_add_string "$@"; }
json_add_int() { record json_add_int "$@"; }
json_add_boolean() { record json_add_boolean "$@"; }
json_select() { record json_select "$@"; }
