#!/bin/bash
# test_redis_guard.sh MAMORID
#
# Issue 5, shared state: two real mamorid processes with redis.url pointing
# at one real redis-server (started here on a random loopback port, own
# directory, no persistence, stopped by PID in the trap), each with its own
# milter socket, data directory and Postfix policy-service socket
# (submission.policy_listen). A tiny policy client (python3) speaks the
# Postfix policy delegation protocol to both, alternately, for one account
# with a limit of N messages per hour:
#   - exactly N allowed in total (DUNNO), the rest refused with the
#     configured reply code and 4.7.1;
#   - Redis stopped: mamorid A (submission.on_error = tempfail) answers
#     451 4.3.0, mamorid B (on_error = accept) answers DUNNO and logs a
#     warning; neither hangs past the timeout;
#   - Redis started again: both recover by themselves (no restart, no
#     reload) and enforce one combined limit again;
#   - Redis frozen (SIGSTOP): the same answers, after redis.timeout_ms.
# Needs redis-server and python3; exit 77 = skipped.
set -u
MAMORID=${1:?usage: test_redis_guard.sh MAMORID}
skip() { echo "SKIP: $*"; exit 77; }
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/redis_lib.sh"
redis_available || skip "redis-server is not installed (Debian package redis-server)"
command -v python3 >/dev/null || skip "python3 is not installed"

T=$(mktemp -d /tmp/mamori-redis-guard.XXXXXX)
chmod 755 "$T" # the unprivileged mamorid user must reach its directories
redis_setup "$T"
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p"
			for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			kill -0 "$p" 2>/dev/null && kill -KILL "$p"
		fi
	done
	"$T/ctl" stop
	if [ "${KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }

LIMIT=5
REPLY_CODE=452
TIMEOUT_MS=300
RUN_USER=nobody
[ "$(id -u)" = 0 ] && ! id "$RUN_USER" >/dev/null 2>&1 && skip "no user $RUN_USER to run mamorid as"

cat >"$T/zone.db" <<EOF
\$TTL 300
test.   A   127.0.0.1
EOF

# one configuration per mamorid: own sockets and data, one Redis, one prefix
write_config() { # NAME ON_ERROR
	mkdir -p "$T/$1"
	chmod 755 "$T/$1"
	[ "$(id -u)" = 0 ] && chown "$RUN_USER" "$T/$1"
	cat >"$T/$1.conf" <<EOF
general = {
  authserv_id = "$1.test";
  data_dir = "$T/$1/var";
  user = "$RUN_USER";
  log_level = "info";
  syslog = false;
};
dns = {
  resolver = "stub";
  zone_file = "$T/zone.db";
};
milter = {
  socket = "unix:$T/$1/milter.sock";
};
submission = {
  reply_code = $REPLY_CODE;
  account_messages = [ "$LIMIT/1h" ];
  on_error = "$2";
  policy_listen = "unix:$T/$1/policy.sock";
};
redis = {
  url = "$REDIS_URL";
  timeout_ms = $TIMEOUT_MS;
  prefix = "guardtest:";
};
EOF
}

start_mamorid() { # NAME
	"$MAMORID" -f -c "$T/$1.conf" >>"$T/$1.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	for _ in $(seq 1 150); do
		[ -S "$T/$1/policy.sock" ] && grep -q 'milter listening' "$T/$1.log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! [ -S "$T/$1/policy.sock" ] || ! kill -0 "$pid" 2>/dev/null; then
		cat "$T/$1.log"
		echo "FAIL: mamorid $1 did not start with a policy socket"
		exit 1
	fi
}

# The policy client: one python3 process for the whole test (a start costs
# a second on a loaded machine), run as a coprocess. Each input line
# "SOCKET ACCOUNT INSTANCE" becomes one END-OF-MESSAGE request (a message
# with one recipient) on a new connection; it answers "ACTION|SECONDS".
cat >"$T/policy.py" <<'EOF'
import socket, sys, time
for line in sys.stdin:
    path, account, instance = line.split()
    req = ("request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nprotocol_name=ESMTP\n"
           "client_address=192.0.2.10\nclient_name=client.test\nhelo_name=client.test\n"
           "sender=%s\nrecipient=\nrecipient_count=1\nqueue_id=Q%s\ninstance=%s\n"
           "sasl_method=PLAIN\nsasl_username=%s\nsize=300\n\n" % (account, instance, instance, account))
    t = time.monotonic()
    action = ""
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        s.sendall(req.encode())
        buf = b""
        while not buf.endswith(b"\n\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        s.close()
        for l in buf.decode(errors="replace").splitlines():
            if l.startswith("action="):
                action = l[7:]
    except OSError as e:
        action = "client error: %s" % e
    print("%s|%.3f" % (action, time.monotonic() - t), flush=True)
EOF
coproc POLICY { exec python3 "$T/policy.py"; }
PIDS+=("$POLICY_PID")
N=0
policy() { # NAME ACCOUNT -> sets ACTION, SECS
	N=$((N + 1))
	local out
	echo "$T/$1/policy.sock $2 $1x$N" >&"${POLICY[1]}"
	IFS= read -r -t 30 out <&"${POLICY[0]}" || out="no answer from the policy client|99.000"
	ACTION=${out%|*}
	SECS=${out##*|}
}

# N+k messages alternately through A and B: counts DUNNO and refusals
burst() { # ACCOUNT TRIES -> ALLOWED, REFUSED, OTHER, LAST_REFUSAL
	ALLOWED=0 REFUSED=0 OTHER=0 LAST_REFUSAL=
	for i in $(seq 1 "$2"); do
		if [ $((i % 2)) = 1 ]; then policy a "$1"; else policy b "$1"; fi
		case $ACTION in
		DUNNO) ALLOWED=$((ALLOWED + 1)) ;;
		"$REPLY_CODE 4.7.1 "*) REFUSED=$((REFUSED + 1)); LAST_REFUSAL=$ACTION ;;
		*) OTHER=$((OTHER + 1)); echo "  unexpected answer: $ACTION" ;;
		esac
	done
}

"$T/ctl" start || { echo "FAIL: redis-server did not start"; exit 1; }
write_config a tempfail
write_config b accept
start_mamorid a
start_mamorid b
ok "two mamorids on one Redis ($REDIS_URL), policy sockets $T/a/policy.sock and $T/b/policy.sock"

# --- one combined limit ----------------------------------------------------------
burst alice@test $((2 * LIMIT + 4))
if [ "$ALLOWED" = "$LIMIT" ] && [ "$REFUSED" = $((LIMIT + 4)) ] && [ "$OTHER" = 0 ]; then
	ok "alternating A/B, $LIMIT per hour: exactly $ALLOWED allowed, $REFUSED refused ($LAST_REFUSAL)"
else
	bad "alternating A/B, $LIMIT per hour: $ALLOWED allowed, $REFUSED refused, $OTHER other"
fi
case $LAST_REFUSAL in
*"rate limit exceeded"*) ok "refusal text names the rate limit" ;;
*) bad "refusal text: $LAST_REFUSAL" ;;
esac
KEYS=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'guardtest:rl:*' | wc -l)
[ "$KEYS" -ge 1 ] && ok "state is in Redis ($KEYS keys under guardtest:rl:)" || bad "no keys under guardtest:rl: in Redis"
TTL=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'guardtest:rl:a:alice*' | head -1 | xargs -r -I{} redis-cli -p "$REDIS_PORT" pttl {})
[ -n "$TTL" ] && [ "$TTL" -gt 0 ] && [ "$TTL" -le 3600001 ] && ok "alice's key expires (PTTL $TTL ms)" ||
	bad "alice's key PTTL '$TTL'"

# --- Redis stopped -----------------------------------------------------------------
"$T/ctl" stop
for i in 1 2 3; do
	policy a carol@test
	A_ACTION=$ACTION A_SECS=$SECS
	policy b carol@test
	B_ACTION=$ACTION B_SECS=$SECS
	case $A_ACTION in
	"451 4.3.0"*) ok "Redis down, A (on_error=tempfail) #$i: $A_ACTION (${A_SECS} s)" ;;
	*) bad "Redis down, A (on_error=tempfail) #$i answered '$A_ACTION'" ;;
	esac
	[ "$B_ACTION" = DUNNO ] && ok "Redis down, B (on_error=accept) #$i: DUNNO (${B_SECS} s)" ||
		bad "Redis down, B (on_error=accept) #$i answered '$B_ACTION'"
	# no answer may wait much past the timeout (seconds as "S.mmm")
	for secs in "$A_SECS" "$B_SECS"; do
		ms=$((10#${secs%.*} * 1000 + 10#${secs#*.}))
		[ "$ms" -lt $((TIMEOUT_MS + 5000)) ] ||
			bad "an answer took $secs s with Redis down (timeout $TIMEOUT_MS ms)"
	done
done
WARNED=$(grep -c 'warning: .*rate limit state unavailable (redis.*accepted' "$T/b.log")
[ "$WARNED" -ge 3 ] && ok "B logged a warning for each of the 3 messages it accepted ($WARNED)" ||
	bad "B logged $WARNED warnings for 3 messages accepted without Redis: $(tail -5 "$T/b.log")"
grep -q 'redis.*127.0.0.1' "$T/a.log" && ok "A logged the Redis outage" || bad "A did not log the Redis outage"

# --- Redis back: recovery without restart ---------------------------------------------
"$T/ctl" start
# at most one reconnect attempt a second: poll
RECOVERED=
for _ in $(seq 1 25); do
	policy a dave@test
	[ "$ACTION" = DUNNO ] && { RECOVERED=1; break; }
	sleep 0.2
done
[ -n "$RECOVERED" ] && ok "A (tempfail) allows again after Redis came back" ||
	bad "A still answers '$ACTION' 5 s after Redis came back"
# B accepts while down too: prove recovery on both with the limit itself
burst erin@test $((2 * LIMIT + 2))
if [ "$ALLOWED" = "$LIMIT" ] && [ "$REFUSED" = $((LIMIT + 2)) ] && [ "$OTHER" = 0 ]; then
	ok "Redis back: A and B enforce one combined limit again ($ALLOWED allowed, $REFUSED refused)"
else
	bad "Redis back: $ALLOWED allowed, $REFUSED refused, $OTHER other"
fi
grep -q 'reachable again' "$T/a.log" && grep -q 'reachable again' "$T/b.log" &&
	ok "both logged that Redis is reachable again" || bad "no 'reachable again' in the logs"
# --- Redis frozen (SIGSTOP): connected but silent, the timeout applies -----------
"$T/ctl" hang
policy a frank@test
A_ACTION=$ACTION A_SECS=$SECS
policy b frank@test
B_ACTION=$ACTION B_SECS=$SECS
"$T/ctl" resume
case $A_ACTION in
"451 4.3.0"*) ok "Redis frozen, A (tempfail): 451 4.3.0 after $A_SECS s (timeout $TIMEOUT_MS ms)" ;;
*) bad "Redis frozen, A answered '$A_ACTION'" ;;
esac
[ "$B_ACTION" = DUNNO ] && ok "Redis frozen, B (accept): DUNNO after $B_SECS s" ||
	bad "Redis frozen, B answered '$B_ACTION'"
for secs in "$A_SECS" "$B_SECS"; do
	ms=$((10#${secs%.*} * 1000 + 10#${secs#*.}))
	[ "$ms" -lt $((TIMEOUT_MS + 5000)) ] || bad "an answer took $secs s with Redis frozen"
done

for p in "${PIDS[@]}"; do
	kill -0 "$p" 2>/dev/null || bad "a process of the test died (pid $p)"
done

echo "passed $PASS, failed $FAIL"
if [ "$FAIL" != 0 ]; then
	echo "--- a.log"; tail -30 "$T/a.log"
	echo "--- b.log"; tail -30 "$T/b.log"
	exit 1
fi
exit 0
