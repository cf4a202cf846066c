#!/usr/bin/env bash
# Every configuration key the code knows appears in docs/config.md, and the
# example configuration passes `mamori config check`.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
mamori=$1
fail=0
keys=$(grep -oE '\{ "[a-z_]+", "[a-z_0-9]+", K_' "$top/src/core/config.c" | sed -E 's/\{ "([a-z_]+)", "([a-z_0-9]+)".*/\1.\2/')
[ -n "$keys" ] || { echo "no keys found in config.c"; exit 1; }
for k in $keys; do
	grep -q "\`$k\`" "$top/docs/config.md" || { echo "undocumented config key: $k"; fail=1; }
done
for k in $(grep -oE '^\| `[a-z_]+\.[a-z_0-9]+`' "$top/docs/config.md" | tr -d '|` '); do
	echo "$keys" | grep -qx "$k" || { echo "docs/config.md documents unknown key: $k"; fail=1; }
done
"$mamori" config check "$top/docs/mamori.conf.example" || fail=1
[ $fail -eq 0 ] && echo "config keys and docs agree ($(echo "$keys" | wc -l) keys)"
exit $fail
