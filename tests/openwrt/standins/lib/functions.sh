# Test stand-in for OpenWrt's /lib/functions.sh: config_load reads the
# config through the uci stand-in into CONFIG_<section>_<option> variables.
config_load() {
	record config_load "$1"
	eval "$(uci __shell "$1")"
}
# config_get VAR SECTION OPTION [DEFAULT]: DEFAULT when the option is unset.
config_get() {
	if eval "[ -n \"\${CONFIG_${2}_${3}+set}\" ]"; then
		eval "$1=\"\${CONFIG_${2}_${3}}\""
	else
		eval "$1=\"\$4\""
	fi
}
config_get_bool() {
	local __value
	config_get __value "$2" "$3" "$4"
	case "$__value" in
		1|on|true|yes|enabled) __value=1 ;;
		0|off|false|no|disabled) __value=0 ;;
		*) __value="$4" ;;
	esac
	eval "$1=\"\$__value\""
}
