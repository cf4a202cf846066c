#!/bin/bash
# bench/milter.sh: what mamorid costs Postfix, on one generated corpus.
#
#   bash bench/milter.sh --bench BENCH_MILTER --mamorid MAMORID
#        [--messages N] [--concurrency C] [--per-conn M] [--rounds R]
#        [--serial S] [--deliver discard|maildir] [--smoke]
#
# Starts, all on loopback and under a temporary directory: mamorid with the
# stub (zone-file) resolver holding the corpus's SPF, DKIM and DMARC records,
# and one private Postfix with two smtpd listeners that differ only in
# smtpd_milters (tests/integration/mta_lib.sh): one through mamorid, one
# without any milter. bench_milter generates the corpus (DKIM-signed and
# unsigned messages of realistic sizes from several sender domains), then
# sends it to each listener in turn (R rounds, alternating which goes first)
# and prints messages/s and the end-of-DATA -> 250 latency (p50, p99) of
# both, the latency mamorid adds, mamorid's CPU time per message and its
# peak RSS. With C clients the machine is saturated and latency includes
# queueing; a serial pass (one client, the first S messages, default 300)
# then gives the unloaded latency of each path. Delivery is discarded by default so that disk writes of the
# Maildir do not blur the figures (--deliver maildir to keep them).
#
# --smoke: 40 messages, 4 clients, one round, Maildir delivery, and checks
# that every message got 250 and that each one sent through the milter
# arrived with mamorid's Authentication-Results (and the others without);
# that is what CTest runs (label bench). Timing never fails the script.
# Needs root (Postfix); exit 77 = skipped.
set -u

BENCH=
MAMORID=
N=2000
CONC=8
PER_CONN=1
ROUNDS=3
SERIAL=300
DELIVER=discard
SMOKE=
while [ $# -gt 0 ]; do
	case $1 in
	--bench) BENCH=$2; shift ;;
	--mamorid) MAMORID=$2; shift ;;
	--messages) N=$2; shift ;;
	--concurrency) CONC=$2; shift ;;
	--per-conn) PER_CONN=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--serial) SERIAL=$2; shift ;;
	--deliver) DELIVER=$2; shift ;;
	--smoke) SMOKE=1 ;;
	-h | --help) sed -n '2,26p' "$0" | sed 's/^# \?//'; exit 0 ;;
	*) echo "milter.sh: unknown option $1" >&2; exit 64 ;;
	esac
	shift
done
[ -x "$BENCH" ] && [ -x "$MAMORID" ] || { echo "usage: milter.sh --bench BENCH_MILTER --mamorid MAMORID [...]" >&2; exit 64; }
if [ -n "$SMOKE" ]; then
	N=40 CONC=4 ROUNDS=1 SERIAL=0 DELIVER=maildir
fi

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tests/integration/mta_lib.sh
. "$HERE/../tests/integration/mta_lib.sh"
mta_check_prereqs

T=$(mktemp -d /tmp/bench-milter.XXXXXX)
trap mta_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
mta_init

"$BENCH" gen "$T/corpus" --messages "$N" --domains 8 --seed 4 || exit 1

cat >"$T/mamorid.conf" <<EOF
general = {
  authserv_id = "mx.test";
  data_dir = "$T/var";
  user = "postfix";
  log_level = "info";
  syslog = false;
};
dns = {
  resolver = "stub";
  zone_file = "$T/corpus/zone.db";
};
milter = {
  socket = "unix:$SOCK";
};
inbound = {
  # loopback is "outside": every message takes the whole inbound path
  internal_networks = [ "192.0.2.200/32" ];
  protected_domains = [ "example.net" ];
  vips = ( { name = "Taro Yamada"; address = "taro@example.net"; } );
  headers = true;
};
dnsbl = {
  zones = ( { zone = "bl.bench.test"; } );
};
EOF
mamorid_start "$MAMORID" "$T/mamorid.conf"
mta_postfix_start "$DELIVER"

# cpu_ticks PID: utime + stime in clock ticks
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
FAILED=0
run() { # LABEL PORT [extra args]
	local label=$1 port=$2
	shift 2
	"$BENCH" send "$T/corpus" --server "127.0.0.1:$port" --concurrency "$CONC" --per-conn "$PER_CONN" \
		--label "$label" "$@" | tee -a "$T/results" | grep -v '^RESULT'
	[ "${PIPESTATUS[0]}" = 0 ] || FAILED=1
}

if [ -z "$SMOKE" ]; then
	# warm both paths (process pools, page cache, resolver cache)
	run warmup-plain "$PORT_PLAIN" --limit 200 >/dev/null
	run warmup-milter "$PORT" --limit 200 >/dev/null
fi
: >"$T/results"
MILTER_TICKS=0
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order="plain milter"; else order="milter plain"; fi
	for which in $order; do
		if [ "$which" = plain ]; then
			run "plain-$r" "$PORT_PLAIN"
		else
			t0=$(cpu_ticks "$MPID")
			run "milter-$r" "$PORT"
			t1=$(cpu_ticks "$MPID")
			MILTER_TICKS=$((MILTER_TICKS + t1 - t0))
		fi
	done
done
if [ "$SERIAL" -gt 0 ]; then
	run serial-plain "$PORT_PLAIN" --concurrency 1 --limit "$SERIAL"
	run serial-milter "$PORT" --concurrency 1 --limit "$SERIAL"
fi
HWM=$(awk '/^VmHWM/ { print $2, $3 }' "/proc/$MPID/status")
HZ=$(getconf CLK_TCK)

echo
echo "=== summary: $N messages x $ROUNDS rounds, $CONC clients, $PER_CONN message(s) per connection, delivery: $DELIVER"
python3 - "$T/results" "$MILTER_TICKS" "$HZ" "$N" "$ROUNDS" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("RESULT ")]
ticks, hz, n, rounds = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def med(kind, col):
    v = [float(r[col]) for r in rows if r[1].startswith(kind + "-")]
    return statistics.median(v) if v else float("nan")
res = {}
for kind in ("plain", "milter"):
    res[kind] = (med(kind, 5), med(kind, 6), med(kind, 7))
    print("%-22s %8.0f msg/s   p50 %7.2f ms   p99 %7.2f ms" % (
        "Postfix alone:" if kind == "plain" else "Postfix + mamorid:", *res[kind]))
p, m = res["plain"], res["milter"]
print("%-22s %+7.0f%% msg/s  p50 %+7.2f ms   p99 %+7.2f ms" % (
    "with mamorid:", (m[0] / p[0] - 1) * 100 if p[0] else float("nan"), m[1] - p[1], m[2] - p[2]))
serial = {r[1][len("serial-"):]: r for r in rows if r[1].startswith("serial-")}
if len(serial) == 2:
    sp, sm = serial["plain"], serial["milter"]
    print("one client (%s messages): p50 %.2f -> %.2f ms (%+.2f), p99 %.2f -> %.2f ms (%+.2f)" % (
        sp[2], float(sp[6]), float(sm[6]), float(sm[6]) - float(sp[6]),
        float(sp[7]), float(sm[7]), float(sm[7]) - float(sp[7])))
    # the whole transaction (connect to QUIT) also pays the milter's other
    # round trips: connect, HELO, MAIL, RCPT, one per header
    tp, tm = 1000 / float(sp[5]), 1000 / float(sm[5])
    print("one client, whole SMTP session per message: %.2f -> %.2f ms (%+.2f)" % (tp, tm, tm - tp))
print("mamorid CPU: %.3f ms per message (%d messages)" % (ticks / hz * 1000 / max(1, n * rounds), n * rounds))
EOF
echo "mamorid peak RSS: $HWM"

if [ -n "$SMOKE" ]; then
	mta_wait_queue_empty 30
	# messages through the milter carry our Authentication-Results, the others none
	total=$(find "$MAIL/box/new" -type f | wc -l)
	ours=$(grep -l '^Authentication-Results: mx.test;' "$MAIL"/box/new/* 2>/dev/null | wc -l)
	dkimpass=$(grep -l 'dkim=pass' "$MAIL"/box/new/* 2>/dev/null | wc -l)
	echo "delivered: $total, with mamorid's Authentication-Results: $ours (dkim=pass: $dkimpass)"
	if [ "$total" != $((2 * N)) ] || [ "$ours" != "$N" ] || [ "$dkimpass" -eq 0 ]; then
		echo "FAIL: expected $((2 * N)) delivered, $N of them stamped by mamorid, some dkim=pass"
		FAILED=1
	fi
	mta_sanitizer_clean || { echo "FAIL: sanitizer report in the mamorid log"; FAILED=1; }
fi
if [ "$FAILED" != 0 ]; then
	echo "--- mamorid log"; tail -20 "$T/mamorid.log"
	echo "FAIL: not every message got 250"
	exit 1
fi
echo "every message got 250"
