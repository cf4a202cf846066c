#!/bin/bash
# test_guard_reload.sh MAMORID MAMORI
#
# The submission guard's state across SIGHUP and restarts, through the real
# mamorid and its policy service on 127.0.0.1 (Postfix policy protocol bytes
# sent from bash; no MTA needed). Checks: a rate limit refuses the
# message after N; SIGHUP with the same rules keeps the count (still refused)
# and the automatic lock; SIGHUP with a larger limit carries the used share
# over (exactly the difference passes); a reload with a bad limit is refused
# naming the key and the running rules stay; `mamori account unlock` and
# `mamori account lock` reach the running daemon within about a second; a lock
# survives a restart. Runs as any user (as root, mamorid drops to nobody).
set -u

MAMORID=${1:?usage: test_guard_reload.sh MAMORID MAMORI}
MAMORI=${2:?usage: test_guard_reload.sh MAMORID MAMORI}
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

T=$(mktemp -d /tmp/mamori-guard-reload.XXXXXX)
chmod 755 "$T"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MPID=
FAILS=0
cleanup() {
	if [ -n "$MPID" ] && kill -0 "$MPID" 2>/dev/null; then
		kill -TERM "$MPID"
		for _ in $(seq 1 100); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$MPID" 2>/dev/null && kill -KILL "$MPID"
	fi
	if [ "${KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
ok() { echo "ok: $*"; }
bad() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}

USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE='user = "nobody";'
write_config() { # LIMIT
	cat >"$T/mamorid.conf" <<EOF
general = { data_dir = "$T/var"; $USER_LINE log_level = "info"; syslog = false; };
dns = { resolver = "stub"; zone_file = "$T/zone.db"; };
milter = { socket = "unix:$T/var/mamorid.sock"; };
submission = {
  account_messages = [ $1 ];
  account_recipients = [ ];
  lock_max_ips = 1;
  lock_max_countries = 0;
  policy_listen = "inet:$PORT@127.0.0.1";
};
EOF
}
echo '$ORIGIN test.' >"$T/zone.db"
: >"$T/mamorid.log"
write_config '"2/1h"'

started() { grep -c "mamorid: policy service listening on inet:$PORT@127.0.0.1" "$T/mamorid.log"; }
start() {
	local before
	before=$(started)
	"$MAMORID" -f -c "$T/mamorid.conf" >>"$T/mamorid.log" 2>&1 &
	MPID=$!
	for _ in $(seq 1 150); do [ "$(started)" -gt "$before" ] && break; sleep 0.1; done
	[ "$(started)" -gt "$before" ] || { cat "$T/mamorid.log"; echo "FAIL: mamorid did not start"; exit 1; }
}
stop() {
	kill -TERM "$MPID"
	for _ in $(seq 1 100); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
	MPID=
}

# ask USER IP INSTANCE -> the action line (bash's /dev/tcp: no process per
# request, the machine may be busy)
ask() {
	local line reply=""
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || { echo "connect failed"; return; }
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=%s\nsasl_method=PLAIN\nsasl_username=%s\ninstance=%s\nrecipient=rcpt@example.org\n\n' \
		"$2" "$1" "$3" >&3
	while IFS= read -r -t 5 line <&3; do
		[ -z "$line" ] && break
		reply=$line
	done
	exec 3<&-
	echo "$reply"
}
expect() { # WHAT PREFIX USER IP INSTANCE
	local r
	r=$(ask "$3" "$4" "$5")
	if [[ $r == "$2"* ]]; then ok "$1: $r"; else bad "$1: expected '$2...', got '$r'"; fi
}
# waits up to 2 s for USER to get PREFIX (the daemon polls every 200 ms)
eventually() { # WHAT PREFIX USER
	local r i
	for i in $(seq 1 20); do
		r=$(ask "$3" 192.0.2.1 "ev$i")
		if [[ $r == "$2"* ]]; then ok "$1 (after ~$((i * 100)) ms)"; return; fi
		sleep 0.1
	done
	bad "$1: still '$r' after 2 s"
}
hup() { # the log line that must follow
	local n
	n=$(grep -c "$1" "$T/mamorid.log")
	kill -HUP "$MPID"
	for _ in $(seq 1 50); do [ "$(grep -c "$1" "$T/mamorid.log")" -gt "$n" ] && return 0; sleep 0.1; done
	return 1
}

start
expect "message 1" "action=DUNNO" alice@example.test 192.0.2.1 a1
expect "message 2" "action=DUNNO" alice@example.test 192.0.2.1 a2
expect "message 3 over 2/1h" "action=451 4.7.1 rate limit exceeded: 2 messages per 1 h" alice@example.test 192.0.2.1 a3
expect "bob from one address" "action=DUNNO" bob@example.test 192.0.2.1 b1
expect "bob from a second address: locked" "action=554 5.7.1 account locked" bob@example.test 192.0.2.2 b2

hup "configuration reloaded" && ok "SIGHUP reloaded" || bad "no reload line"
expect "after reload: count kept" "action=451 4.7.1 rate limit exceeded" alice@example.test 192.0.2.1 a4
expect "after reload: lock kept" "action=554 5.7.1 account locked" bob@example.test 192.0.2.1 b3

write_config '"5/1h"'
hup "configuration reloaded" && ok "SIGHUP with 5/1h" || bad "no reload line"
# 2 of the old 2/1h used: 3 more pass under 5/1h, the 4th does not
for i in 1 2 3; do expect "5/1h: message $i after the reload" "action=DUNNO" alice@example.test 192.0.2.1 c$i; done
expect "5/1h: used share carried over" "action=451 4.7.1 rate limit exceeded: 5 messages per 1 h" alice@example.test 192.0.2.1 c4

write_config '"5/1y"'
if hup "reload failed, keeping the running configuration"; then
	grep -q 'submission.account_messages\[0\]: "5/1y"' "$T/mamorid.log" && ok "bad limit refused naming the key" ||
		bad "the reload error does not name the key: $(grep 'reload failed' "$T/mamorid.log" | tail -1)"
else
	bad "a bad limit was not refused"
fi
expect "running rules kept" "action=451 4.7.1 rate limit exceeded: 5 messages per 1 h" alice@example.test 192.0.2.1 c5
write_config '"5/1h"'

"$MAMORI" -c "$T/mamorid.conf" account unlock bob@example.test | grep -q unlocked && ok "mamori account unlock" ||
	bad "mamori account unlock"
eventually "unlock reached the running mamorid" "action=DUNNO" bob@example.test
"$MAMORI" -c "$T/mamorid.conf" account lock carol@example.test --for 1h --reason "test" | grep -q locked &&
	ok "mamori account lock" || bad "mamori account lock"
eventually "lock reached the running mamorid" "action=554 5.7.1 account locked" carol@example.test
grep -q "submission: account bob@example.test unlocked by cli:" "$T/mamorid.log" && ok "unlock logged" ||
	bad "unlock not logged"

stop
start
expect "carol still locked after a restart" "action=554 5.7.1 account locked" carol@example.test 192.0.2.1 r1
expect "bob still unlocked after a restart" "action=DUNNO" bob@example.test 192.0.2.1 r2
"$MAMORI" -c "$T/mamorid.conf" account show carol@example.test --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["locked"] is True and j["lock"]["reason"] == "test", j
assert j["events"][0]["event"] == "lock", j
' && ok "account show --json" || bad "account show --json"
stop
grep -q "ERROR: [A-Za-z]*Sanitizer\|runtime error:" "$T/mamorid.log" && bad "sanitizer report in the log"

[ "$FAILS" = 0 ] || { sed 's/^/    /' "$T/mamorid.log" | tail -40; exit 1; }
echo "all ok"
