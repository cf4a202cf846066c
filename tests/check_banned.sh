#!/usr/bin/env bash
# Banned functions (unbounded copies and formats) must not appear in src/.
top=$(cd "$(dirname "$0")/.." && pwd)
hits=$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|strtok)\s*\(' -r "$top/src" --include='*.c' --include='*.h' | grep -v '^\s*//' )
if [ -n "$hits" ]; then
	echo "banned functions used:"; echo "$hits"; exit 1
fi
echo "no banned functions in src/"
