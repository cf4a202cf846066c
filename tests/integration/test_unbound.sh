#!/bin/bash
# Integration test of the libunbound backend (src/dns/dns_unbound.c) against a
# real unbound server on 127.0.0.1 at a random high port, serving local-data
# from a config written here. No network beyond loopback is used.
#
#   test_unbound.sh /path/to/dns_query_tool
#
# Exits 0 on success, 1 on a failed check, 77 (skip) only when the unbound
# server binary is not installed.
set -u

TOOL=${1:?usage: test_unbound.sh /path/to/dns_query_tool}
# MAMORI_UNBOUND_BIN overrides where the server is looked for
UNBOUND=${MAMORI_UNBOUND_BIN:-$(command -v unbound || echo /usr/sbin/unbound)}
if [ ! -x "$UNBOUND" ]; then
	echo "SKIP: unbound server not installed"
	exit 77
fi

TMP=$(mktemp -d)
PID=
cleanup() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

port_free() {
	command -v ss >/dev/null || return 0 # a clash is caught by the start-up retry
	! ss -Hlnu "sport = :$1" | grep -q . && ! ss -Hlnt "sport = :$1" | grep -q .
}

write_conf() {
	{
		cat <<EOF
server:
	interface: 127.0.0.1
	port: $1
	do-ip6: no
	do-daemonize: no
	username: ""
	chroot: ""
	directory: "$TMP"
	pidfile: "$TMP/unbound.pid"
	use-syslog: no
	logfile: "$TMP/unbound.log"
	verbosity: 1
	access-control: 127.0.0.0/8 allow
	module-config: "iterator"
	local-zone: "example.test." static
	local-data: "example.test. 300 IN A 192.0.2.1"
	local-data: "example.test. 300 IN AAAA 2001:db8::1"
	local-data: 'example.test. 300 IN TXT "v=spf1 -all" "second"'
	local-data: "example.test. 300 IN MX 10 mx.example.test."
	local-data: "example.test. 300 IN MX 20 mx2.example.test."
	local-data: "mx.example.test. 300 IN A 192.0.2.25"
	local-data: "www.example.test. 300 IN CNAME example.test."
	local-data: "ptr.example.test. 300 IN PTR host.example.test."
	local-data: 'esc.example.test. 300 IN TXT "a\\"b\\000c"'
	local-zone: "other.test." static
	local-data: "other.test. 300 IN A 192.0.2.50"
	local-zone: "slow.test." deny
remote-control:
	control-enable: no
EOF
		for i in $(seq 0 7); do
			echo "server: local-data: \"t$i.example.test. 300 IN A 192.0.2.$((100 + i))\""
		done
	} >"$TMP/unbound.conf"
}

# start unbound on a random free port (a few tries in case of a race)
PORT=
for try in 1 2 3 4 5; do
	p=$((20000 + RANDOM % 30000))
	port_free "$p" || continue
	write_conf "$p"
	if command -v unbound-checkconf >/dev/null && ! unbound-checkconf "$TMP/unbound.conf" >"$TMP/checkconf.log" 2>&1; then
		cat "$TMP/checkconf.log"
		echo "FAIL: unbound-checkconf"
		exit 1
	fi
	rm -f "$TMP/unbound.log"
	"$UNBOUND" -d -c "$TMP/unbound.conf" >"$TMP/stderr.log" 2>&1 &
	PID=$!
	for _ in $(seq 1 50); do
		grep -q "start of service" "$TMP/unbound.log" 2>/dev/null && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if grep -q "start of service" "$TMP/unbound.log" 2>/dev/null; then
		PORT=$p
		break
	fi
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
done
if [ -z "$PORT" ]; then
	cat "$TMP/unbound.log" "$TMP/stderr.log" 2>/dev/null
	echo "FAIL: could not start unbound"
	exit 1
fi

PASS=0
FAIL=0
FWD=(--forwarder "127.0.0.1@$PORT" --nodefault test. --timeout 2000)

# check DESCRIPTION EXPECTED-OUTPUT ARGS...: the tool's whole output must match
# (check_sorted: the same with the lines sorted, for rotated RRsets)
SORT=cat
check_sorted() {
	SORT="sort"
	check "$@"
	SORT=cat
}
check() {
	local desc=$1 want=$2
	shift 2
	local got
	got=$("$TOOL" "$@" 2>&1 | $SORT)
	want=$(echo "$want" | $SORT)
	if [ "$got" = "$want" ]; then
		PASS=$((PASS + 1))
	else
		FAIL=$((FAIL + 1))
		echo "FAIL: $desc"
		echo "  want: $(echo "$want" | sed -n 'H;${x;s/\n/ | /g;s/^ | //;p}')"
		echo "  got:  $(echo "$got" | sed -n 'H;${x;s/\n/ | /g;s/^ | //;p}')"
	fi
}

check "A" "found
A 300 192.0.2.1" "${FWD[@]}" example.test A
check "AAAA" "found
AAAA 300 2001:db8::1" "${FWD[@]}" example.test AAAA
check "TXT, two strings joined" 'found
TXT 300 "v=spf1 -allsecond" 2' "${FWD[@]}" example.test TXT
check "TXT with escapes" 'found
TXT 300 "a\034b\000c" 1' "${FWD[@]}" esc.example.test TXT
check_sorted "MX" "found
MX 300 10 mx.example.test
MX 300 20 mx2.example.test" "${FWD[@]}" example.test MX
check "CNAME followed" "found
A 300 192.0.2.1" "${FWD[@]}" www.example.test A
check "CNAME asked" "found
CNAME 300 example.test" "${FWD[@]}" www.example.test CNAME
check "PTR" "found
PTR 300 host.example.test" "${FWD[@]}" ptr.example.test PTR
check "trailing dot, case" "found
A 300 192.0.2.1" "${FWD[@]}" EXAMPLE.Test. A
check "NODATA" "nodata" "${FWD[@]}" example.test PTR
check "NXDOMAIN" "nxdomain" "${FWD[@]}" nope.example.test A
# the special-use test. zone answers NXDOMAIN inside libunbound without nodefault
check "test. without nodefault" "nxdomain" --forwarder "127.0.0.1@$PORT" --timeout 2000 example.test A
check "invalid name" "error invalid domain name" "${FWD[@]}" "a..b" A

# a trust anchor for example.test. whose zone is not signed: validation fails
echo "example.test. IN DS 12345 8 2 49AAC11D7B6F6446702E54A1607371607A1A41855200FD2CE1CDDE32F24E8FB5" >"$TMP/ta.key"
check "DNSSEC bogus" "tempfail DNSSEC bogus" "${FWD[@]}" --trust-anchor "$TMP/ta.key" example.test A
# outside the anchored zone the answer is insecure but fine
check "DNSSEC insecure elsewhere" "found
A 300 192.0.2.50" "${FWD[@]}" --trust-anchor "$TMP/ta.key" other.test A

# a server that drops the query: the per-query deadline answers tempfail
start=$(date +%s%N)
check "timeout (query dropped)" "tempfail timeout" --forwarder "127.0.0.1@$PORT" --nodefault test. \
	--timeout 1000 x.slow.test A
elapsed=$((($(date +%s%N) - start) / 1000000))
if [ "$elapsed" -lt 900 ] || [ "$elapsed" -gt 5000 ]; then
	FAIL=$((FAIL + 1))
	echo "FAIL: timeout took ${elapsed} ms, want about 1000"
else
	PASS=$((PASS + 1))
fi

# nothing listens on the forwarder's port: tempfail (timeout or SERVFAIL) in time
DEAD=
for _ in 1 2 3 4 5; do
	p=$((20000 + RANDOM % 30000))
	if port_free "$p"; then
		DEAD=$p
		break
	fi
done
start=$(date +%s%N)
got=$("$TOOL" --forwarder "127.0.0.1@$DEAD" --nodefault test. --timeout 1000 example.test A 2>&1)
elapsed=$((($(date +%s%N) - start) / 1000000))
case "$got" in
"tempfail timeout" | "tempfail SERVFAIL")
	if [ "$elapsed" -le 5000 ]; then
		PASS=$((PASS + 1))
	else
		FAIL=$((FAIL + 1))
		echo "FAIL: dead forwarder took ${elapsed} ms"
	fi
	;;
*)
	FAIL=$((FAIL + 1))
	echo "FAIL: dead forwarder: got '$got'"
	;;
esac

# many threads sharing one context each get their own answers
check "threads share one context" "stress ok" "${FWD[@]}" --stress 8 200

if ! kill -0 "$PID" 2>/dev/null; then
	FAIL=$((FAIL + 1))
	echo "FAIL: unbound died"
	cat "$TMP/unbound.log"
fi

echo "test_unbound: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
