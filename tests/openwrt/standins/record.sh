# Test stand-in: every stand-in appends what it was told to $DPRIVE_ROOT/record.log,
# one call a line, words separated by tabs.
record() {
	{
		printf '%s' "$1"
		shift
		for __word in "$@"; do printf '\t%s' "$__word"; done
		printf '\n'
	} >> "$DPRIVE_ROOT/record.log"
}
