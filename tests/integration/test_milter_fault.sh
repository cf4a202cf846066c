#!/bin/bash
# test_milter_fault.sh MAMORID MAMORI
#
# Fault test of mamorid behind a real Postfix (issue 4): while a stream of
# messages is being sent by several concurrent SMTP clients, mamorid is killed
# with SIGKILL and restarted, twice, and stopped with SIGTERM (it must exit
# cleanly within 15 s, finishing the messages in flight) and restarted once
# (FAULT_SIGTERM=0 leaves that out). Postfix runs with milter_default_action
# = tempfail (tests/integration/mta_lib.sh), so a message caught by the
# crash, or sent while mamorid is down, gets a 4xx and the client sends it
# again until it gets a final answer. Afterwards every message must be
# accounted for exactly once:
#   accepted (250), meant to pass      -> one copy in the Maildir, no quarantine row
#   accepted (250), meant to quarantine -> one quarantine row, nothing delivered
#   refused (5xx), meant to be refused  -> nothing delivered, no row
# nothing still tempfailed at the end, nothing lost, nothing duplicated.
# The stream: FAULT_MESSAGES (default 200) messages, FAULT_CLIENTS (4)
# clients; one in ten impersonates a VIP from free mail (quarantined), one
# in ten fails SPF under p=reject (550), the rest pass. Then a few kills
# aimed at the quarantine's commit window (FAULT_TARGETED=0 leaves them out).
# Needs root, postfix, python3; exit 77 = skipped.
set -u

MAMORID=${1:?usage: test_milter_fault.sh MAMORID MAMORI}
MAMORI=${2:?usage: test_milter_fault.sh MAMORID MAMORI}
NMSG=${FAULT_MESSAGES:-200}
NCLIENTS=${FAULT_CLIENTS:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=mta_lib.sh
. "$HERE/mta_lib.sh"
mta_check_prereqs

T=$(mktemp -d /tmp/milter-fault.XXXXXX)
CLIENT_PID=
fault_cleanup() {
	[ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null
	mta_cleanup
}
trap fault_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
mta_init

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }

cat >"$T/zone.db" <<EOF
\$TTL 300
good.test.            A    127.0.0.1
good.test.            MX   10 good.test.
good.test.            TXT  "v=spf1 ip4:127.0.0.1 -all"
_dmarc.good.test.     TXT  "v=DMARC1; p=reject"
strict.test.          A    192.0.2.1
strict.test.          MX   10 strict.test.
strict.test.          TXT  "v=spf1 ip4:192.0.2.1 -all"
_dmarc.strict.test.   TXT  "v=DMARC1; p=reject"
freemail.test.        MX   10 mx.freemail.test.
freemail.test.        TXT  "v=spf1 ip4:127.0.0.1 -all"
_dmarc.freemail.test. TXT  "v=DMARC1; p=none"
mx.freemail.test.     A    127.0.0.1
corp.test.            MX   10 corp.test.
corp.test.            A    192.0.2.10
EOF
cat >"$T/mamorid.conf" <<EOF
general = {
  authserv_id = "mx.test";
  data_dir = "$T/var";
  user = "postfix";
  log_level = "warning";
  syslog = false;
};
dns = {
  resolver = "stub";
  zone_file = "$T/zone.db";
};
milter = {
  socket = "unix:$SOCK";
};
inbound = {
  internal_networks = [ "192.0.2.200/32" ];
  protected_domains = [ "corp.test" ];
  freemail_domains = [ "freemail.test" ];
  vips = ( { name = "Taro Yamada"; address = "taro.yamada@corp.test"; } );
};
EOF

mamorid_start "$MAMORID" "$T/mamorid.conf"
mta_postfix_start maildir

# --- the client: NCLIENTS threads, each message retried on 4xx / lost
#     connections until a final answer (or a 90 s deadline per message).
#     Progress: one line per final answer in $T/progress; results as JSON.
cat >"$T/client.py" <<'EOF'
import json, smtplib, socket, sys, threading, time
port, n, nclients, out, progress = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
RCPT = "rcpt@example.net"

def message(i):
    kind = "vip" if i % 10 == 3 else "strict" if i % 10 == 7 else "good"
    if kind == "vip":
        frm, hdr = "taro.y%d@freemail.test" % i, '"Taro Yamada" <taro.y%d@freemail.test>' % i
    elif kind == "strict":
        frm, hdr = "user%d@strict.test" % i, "<user%d@strict.test>" % i
    else:
        frm, hdr = "user%d@good.test" % i, "<user%d@good.test>" % i
    body = "".join("line %d of message %d, some filler text to give it a body.\r\n" % (k, i) for k in range(20 + i % 40))
    data = ("From: %s\r\nTo: <%s>\r\nSubject: fault fault-%d\r\nMessage-ID: <fault-%d@fault.test>\r\n"
            "X-Test-Id: fault-%d\r\nDate: %s\r\n\r\n%s" % (hdr, RCPT, i, i, i,
            time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()), body))
    return kind, frm, data.encode()

results = {}
lock = threading.Lock()
nxt = [0]
prog = open(progress, "a", buffering=1)

def code_of(e):
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return list(e.recipients.values())[0][0]
    if isinstance(e, smtplib.SMTPResponseException):
        return e.smtp_code
    return 0  # connection-level failure: retried like a 4xx

def worker():
    while True:
        with lock:
            i = nxt[0]
            nxt[0] += 1
        if i >= n:
            return
        kind, frm, data = message(i)
        attempts, tempfails, final, deadline = 0, 0, None, time.time() + 90
        while final is None and time.time() < deadline:
            attempts += 1
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                    s.ehlo("client.good.test")
                    s.sendmail(frm, [RCPT], data)
                final = 250
            except (smtplib.SMTPException, OSError) as e:
                c = code_of(e)
                if 500 <= c < 600:
                    final = c
                else:
                    tempfails += 1
                    time.sleep(0.2)
        with lock:
            results[i] = {"kind": kind, "final": final, "attempts": attempts, "tempfails": tempfails}
            prog.write("%d %s\n" % (i, final))

failed = []
def guarded():
    try:
        worker()
    except BaseException as e:
        failed.append(repr(e))
        raise

threads = [threading.Thread(target=guarded) for _ in range(nclients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if failed:
    sys.exit("client thread failed: %s" % failed[0])
json.dump(results, open(out, "w"))
EOF
: >"$T/progress"
python3 "$T/client.py" "$PORT" "$NMSG" "$NCLIENTS" "$T/results.json" "$T/progress" &
CLIENT_PID=$!

# wait_progress N: until N messages have a final answer (or the client ended)
wait_progress() {
	for _ in $(seq 1 1200); do
		[ "$(wc -l <"$T/progress")" -ge "$1" ] && return 0
		kill -0 "$CLIENT_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
KILLS=0
TERMS=0
# two crashes: one a third of the way in, restarted at once; one at two
# thirds, left down for a second so that clients meet a dead socket; and
# between them an orderly restart (SIGTERM: finish the messages in flight)
POINTS="$((NMSG / 3)):0:KILL $((NMSG / 2)):0:TERM $((2 * NMSG / 3)):1:KILL"
[ "${FAULT_SIGTERM:-1}" = 0 ] && POINTS="$((NMSG / 3)):0:KILL $((2 * NMSG / 3)):1:KILL"
for point in $POINTS; do
	IFS=: read -r at down sig <<<"$point"
	wait_progress "$at" || continue
	if [ "$sig" = KILL ]; then
		mamorid_kill
		KILLS=$((KILLS + 1))
	else
		mamorid_stop && TERMS=$((TERMS + 1)) || bad "mamorid exit status $? on SIGTERM under load"
	fi
	echo "stopped mamorid (SIG$sig) after $(wc -l <"$T/progress") messages"
	sleep "$down"
	mamorid_start "$MAMORID" "$T/mamorid.conf"
done
wait "$CLIENT_PID"
crc=$?
CLIENT_PID=
if [ "$crc" != 0 ] || [ ! -s "$T/results.json" ]; then
	echo "FAIL: the SMTP client failed (exit $crc)"
	exit 1
fi
[ "$KILLS" = 2 ] && ok "mamorid killed with SIGKILL and restarted twice mid-stream" || bad "only $KILLS kills happened mid-stream"
if [ "${FAULT_SIGTERM:-1}" != 0 ]; then
	[ "$TERMS" = 1 ] && ok "mamorid stopped with SIGTERM (clean exit within 15 s) and restarted mid-stream" ||
		bad "no clean SIGTERM restart mid-stream"
fi
mta_wait_queue_empty 30 && ok "Postfix queue drained" || bad "Postfix queue not empty after 30 s"
sleep 0.5

# --- accounting -----------------------------------------------------------------
grep -h '^X-Test-Id: fault-' "$MAIL"/box/new/* 2>/dev/null | tr -d '\r' | sed 's/^X-Test-Id: fault-//' >"$T/delivered.txt"
"$MAMORI" -c "$T/mamorid.conf" quarantine list --limit 0 --json >"$T/quarantine.json" 2>"$T/qlist.err" ||
	bad "quarantine list failed: $(cat "$T/qlist.err")"
python3 - "$T/results.json" "$T/delivered.txt" "$T/quarantine.json" "$NMSG" >"$T/accounting.out" <<'EOF'
import collections, json, re, sys
results = json.load(open(sys.argv[1]))
delivered = collections.Counter(int(l) for l in open(sys.argv[2]) if l.strip())
try:
    q = json.load(open(sys.argv[3]))
except ValueError:
    print("note: no quarantine list (not JSON)")
    q = []
if isinstance(q, dict):
    for k in ("messages", "quarantine", "items", "rows"):
        if isinstance(q.get(k), list):
            q = q[k]
            break
quarantined = collections.Counter()
for row in q:
    for v in row.values():
        m = re.fullmatch(r"fault fault-(\d+)", v) if isinstance(v, str) else None
        if m:
            quarantined[int(m.group(1))] += 1
n = int(sys.argv[4])
bad = []
count = collections.Counter()
retried = 0
for i in range(n):
    r = results.get(str(i))
    if r is None:
        bad.append("%d: no result from the client" % i); continue
    d, qn, final, kind = delivered[i], quarantined[i], r["final"], r["kind"]
    retried += r["tempfails"] > 0
    if final is None:
        outcome = "lost (still tempfailed at the deadline)"
    elif final == 250 and d == 1 and qn == 0:
        outcome = "delivered"
    elif final == 250 and d == 0 and qn == 1:
        outcome = "quarantined"
    elif 500 <= final < 600 and d == 0 and qn == 0:
        outcome = "refused"
    else:
        outcome = "inconsistent (client %s, %d delivered, %d quarantined)" % (final, d, qn)
    want = {"good": "delivered", "vip": "quarantined", "strict": "refused"}[kind]
    count[outcome] += 1
    if outcome != want:
        bad.append("%d (%s): %s, expected %s" % (i, kind, outcome, want))
extra = [i for i in list(delivered) + list(quarantined) if i >= n]
if extra:
    bad.append("unknown messages in the Maildir or quarantine: %s" % extra[:10])
print("outcomes:", dict(count), "- messages that met a 4xx or lost connection and were resent:", retried)
for b in bad[:30]:
    print("BAD", b)
print("TOTAL_BAD", len(bad))
print("RETRIED", retried)
EOF
cat "$T/accounting.out" | grep -v '^TOTAL_BAD\|^RETRIED'
nbad=$(awk '/^TOTAL_BAD/ { print $2 }' "$T/accounting.out")
retried=$(awk '/^RETRIED/ { print $2 }' "$T/accounting.out")
[ "${nbad:-x}" = 0 ] && ok "all $NMSG messages delivered, quarantined or refused exactly once as meant" ||
	bad "${nbad:-?} messages not accounted for exactly once"
[ "${retried:-0}" -gt 0 ] && ok "$retried messages met a tempfail and were resent (the kills hit traffic)" ||
	bad "no message met a tempfail: the kills did not hit the stream"

# --- targeted kills in the quarantine window ---------------------------------
# SIGKILL 1-5 ms after a quarantined message's file appears: that lands
# before the row commit (the file is left for the stray-file sweep), or
# between the commit and the milter's answer, so that Postfix tempfails a
# message already in the quarantine and the client sends it again. Each
# message must still end with exactly one quarantine row (mamorid recognises
# the resent copy). FAULT_TARGETED=0 leaves this out.
if [ "${FAULT_TARGETED:-1}" != 0 ]; then
	nfiles_before=$(find "$T/var/quarantine" -type f -name 'q-*' 2>/dev/null | wc -l)
	for try in 1 2 3 4; do
		delay_ms=$((try % 3 * 2 + 1))
		python3 - "$PORT" "$try" >"$T/tsend.$try" 2>&1 <<'EOF' &
import smtplib, sys, time
port, i = int(sys.argv[1]), int(sys.argv[2])
msg = ('From: "Taro Yamada" <taro.t%d@freemail.test>\r\nTo: <rcpt@example.net>\r\nSubject: fault targeted-%d\r\n'
       'Message-ID: <targeted-%d@fault.test>\r\n\r\nbody\r\n' % (i, i, i)).encode()
for attempt in range(300):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("taro.t%d@freemail.test" % i, ["rcpt@example.net"], msg)
        print("250 after %d attempts" % (attempt + 1))
        break
    except (smtplib.SMTPException, OSError):
        time.sleep(0.1)
EOF
		spid=$!
		python3 - "$MPID" "$T/var/quarantine" "$delay_ms" <<'EOF'
import os, signal, sys, time
pid, qdir, delay = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) / 1000
def files():
    try:
        return {f for f in os.listdir(qdir) if not f.startswith(".")}
    except FileNotFoundError:
        return set()
before, t = files(), time.time()
while time.time() - t < 20:
    if files() - before:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        break
    time.sleep(0.0002)
EOF
		mamorid_kill
		mamorid_start "$MAMORID" "$T/mamorid.conf"
		wait "$spid"
	done
	"$MAMORI" -c "$T/mamorid.conf" quarantine list --limit 0 --json >"$T/quarantine2.json" 2>/dev/null
	trows=$(python3 -c '
import collections, json, sys
c = collections.Counter(r["subject"] for r in json.load(open(sys.argv[1])) if r["subject"].startswith("fault targeted-"))
print(" ".join("%s:%d" % (k.split("-")[1], v) for k, v in sorted(c.items())))' "$T/quarantine2.json")
	nfiles=$(( $(find "$T/var/quarantine" -type f -name 'q-*' | wc -l) - nfiles_before ))
	# a file whose row never got committed is left for the stray-file sweep of
	# `mamori quarantine expire`: only noted here
	echo "targeted: rows per message $trows; $nfiles new files for 4 messages"
	[ "$trows" = "1:1 2:1 3:1 4:1" ] && ok "targeted kills: one quarantine row per message" ||
		bad "targeted kills: rows per message: $trows (want 1 each)"
fi

if mamorid_stop; then ok "restarted mamorid stopped cleanly"; else bad "mamorid exit status $?"; fi
mta_sanitizer_clean || bad "sanitizer report in the mamorid log"
if [ "$FAIL" -ne 0 ]; then
	echo "--- mamorid log"
	# a sanitizer report's first lines name the fault and its stacks
	grep -m1 -A80 -E 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error' "$T/mamorid.log" ||
		tail -40 "$T/mamorid.log"
	echo "--- postfix log"; grep -i 'milter\|reject' "$PF/maillog" | tail -20
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
