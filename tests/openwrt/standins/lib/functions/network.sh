# Test stand-in for OpenWrt's /lib/functions/network.sh: the interface with
# the default route is whatever the test wrote to $DPRIVE_ROOT/network.wan(6).
network_find_wan() { eval "$1=\"\$(cat \"\$DPRIVE_ROOT/network.wan\" 2>/dev/null)\""; }
network_find_wan6() { eval "$1=\"\$(cat \"\$DPRIVE_ROOT/network.wan6\" 2>/dev/null)\""; }
