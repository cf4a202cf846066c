#!/bin/bash
# test_limiter_redis.sh LIMITER_REDIS_CHECK [BENCH_RATELIMIT]
#
# The Redis backend of the rate limiter (src/guard/limiter_redis.c) against a
# real redis-server started here on a random loopback port (own directory,
# no persistence; stopped by PID in a trap). Runs limiter_redis_check:
#  - agree: decision for decision the same as the in-process engine (N per T
#    exactly, several windows, cost > count never, deny commits nothing)
#  - shared: two limiter instances, one combined limit
#  - hammer x2: two processes with 4 threads each on one key, 150 per hour:
#    exactly 150 allowed in total
#  - outage: idle restart unnoticed; stopped -> RL_UNAVAILABLE at once;
#    frozen (SIGSTOP) -> RL_UNAVAILABLE after the timeout; recovery without
#    re-creating the limiter
#  - with BENCH_RATELIMIT: a short bench run through Redis (--redis) checks
#    its decisions and prints both figures (timing is not judged)
# Needs redis-server (Debian package redis-server); exit 77 = skipped.
set -u
CHECKER=${1:?usage: test_limiter_redis.sh LIMITER_REDIS_CHECK [BENCH_RATELIMIT]}
BENCH=${2:-}
skip() { echo "SKIP: $*"; exit 77; }
. "$(dirname "$0")/redis_lib.sh"
redis_available || skip "redis-server is not installed (Debian package redis-server)"

T=$(mktemp -d /tmp/limiter-redis-test.XXXXXX)
redis_setup "$T"
URL=$REDIS_URL

cleanup() {
	"$T/ctl" stop
	if [ "${KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

fail() { echo "FAIL: $*"; exit 1; }

"$T/ctl" start || fail "redis-server did not start"

"$CHECKER" "$URL" agree || fail "agree"
"$CHECKER" "$URL" shared || fail "shared"

# two processes at once (both start at one instant, 0.7 s from now), 4
# threads each, on one key with 150 per hour
START=$(( $(date +%s%3N) + 700 ))
"$CHECKER" "$URL" hammer a:hammer 150 4 50 "$START" >"$T/h1" &
H1=$!
"$CHECKER" "$URL" hammer a:hammer 150 4 50 "$START" >"$T/h2" &
H2=$!
wait $H1 || fail "hammer 1: $(cat "$T/h1")"
wait $H2 || fail "hammer 2: $(cat "$T/h2")"
A1=$(sed -n 's/^allowed=//p' "$T/h1")
A2=$(sed -n 's/^allowed=//p' "$T/h2")
[ $((A1 + A2)) = 150 ] || fail "two processes on 150 per hour allowed $A1 + $A2"
echo "ok hammer: two processes x 4 threads, 400 checks, allowed $A1 + $A2 = 150"

if [ -n "$BENCH" ]; then
	"$BENCH" --decisions 20000 --keys 2000 --redis "$URL" --redis-decisions 3000 >"$T/bench" 2>&1 ||
		fail "bench through redis: $(cat "$T/bench")"
	grep -q '^  redis pipelined .* decisions/s' "$T/bench" || fail "bench printed no redis figures: $(cat "$T/bench")"
	grep -q 'redis_pipelined_per_s=' "$T/bench" || fail "bench summary without redis"
	echo "ok bench: $(grep -c '^  redis ' "$T/bench") redis lines, result $(sed -n 's/.*result=//p' "$T/bench")"
fi

"$CHECKER" "$URL" outage "$T/ctl stop" "$T/ctl start" "$T/ctl hang" "$T/ctl resume" || fail "outage"
echo "PASS"
