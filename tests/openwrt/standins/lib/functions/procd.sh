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
procd_open_instance() { __procd_instances=$((__procd_instances + 1)); record procd_open_instance "$@"; }
procd_set_param() { record procd_set_param "$@"; }
procd_append_param() { record procd_append_param "$@"; }
procd_close_instance() { record procd_close_instance "$@"; }
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
