#!/bin/bash
# test_milter_policy.sh MAMORID MAMORI
#
# The milter wiring of the inbound policy behind a real Postfix
# (tests/integration/mta_lib.sh), for what the acceptance test
# (test_inbound.sh) does not look at:
#   - X-Mamori-* headers that came with an inbound message are replaced by
#     ours; internal mail gets none;
#   - the message log row: client IP and GeoIP country (the MaxMind test
#     database, client presented with XCLIENT), HELO, envelope, header From,
#     decoded Subject, auth results, signals, score, action,
#     reason, quarantine id; rows for refused, quarantined and internal mail;
#   - a recipient's deny list refusing that recipient at RCPT time (the
#     others still get the message), and removing a recipient at end of
#     message when the header From matches (the others still get it);
#   - a message with more header fields than the checks read, from outside,
#     refused (550 5.6.0) rather than passed unchecked;
#   - a reload with a semantically invalid file (a bad CIDR) keeps the
#     running configuration, and start-up with one exits 78 naming the key.
# Needs root, postfix, swaks, python3; exit 77 = skipped.
set -u

MAMORID=${1:?usage: test_milter_policy.sh MAMORID MAMORI}
MAMORI=${2:?usage: test_milter_policy.sh MAMORID MAMORI}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=mta_lib.sh
. "$HERE/mta_lib.sh"
mta_check_prereqs
command -v swaks >/dev/null || { echo "SKIP: swaks is not installed"; exit 77; }
GEO=$HERE/../../../shared/corpus/mmdb-test/test-data/GeoLite2-Country-Test.mmdb
[ -r "$GEO" ] || GEO=/work/shared/corpus/mmdb-test/test-data/GeoLite2-Country-Test.mmdb
[ -r "$GEO" ] || { echo "SKIP: no GeoLite2-Country-Test.mmdb"; exit 77; }

T=$(mktemp -d /tmp/milter-policy.XXXXXX)
trap mta_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
mta_init
cp "$GEO" "$T/country.mmdb"
chmod 644 "$T/country.mmdb"

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }

cat >"$T/zone.db" <<EOF
\$TTL 300
good.test.        MX  10 mail.good.test.
mail.good.test.   A   127.0.0.1
good.test.        TXT "v=spf1 ip4:127.0.0.1 ip4:81.2.69.142 -all"
rival.test.       A   192.0.2.50
corp.test.        MX  10 mail.good.test.
c0rp.test.        A   192.0.2.51
EOF

write_config() { # extra inbound lines
	cat >"$T/mamorid.conf" <<EOF
general = { authserv_id = "mx.test"; data_dir = "$T/var"; user = "postfix"; log_level = "info"; syslog = false; };
dns = { resolver = "stub"; zone_file = "$T/zone.db"; timeout_ms = 500; };
milter = { socket = "unix:$SOCK"; };
geoip = { country_db = "$T/country.mmdb"; };
inbound = {
  internal_networks = [ $1 ];
  protected_domains = [ "corp.test" ];
  headers = true;
};
lists = {
  recipients = ( { recipient = "ceo@example.net"; deny = [ "rival.test" ]; } );
};
EOF
}
write_config '"192.0.2.200/32"'

# start-up refuses a semantic error, naming the key
write_config '"10.0.0.0/33"'
cp "$T/mamorid.conf" "$T/bad.conf"
"$MAMORID" -f -c "$T/bad.conf" >"$T/bad.out" 2>&1
rc=$?
[ $rc = 78 ] && grep -q 'inbound.internal_networks: "10.0.0.0/33"' "$T/bad.out" &&
	ok "start-up with a bad CIDR: exit 78 naming the key" || bad "bad CIDR at start-up: rc $rc $(cat "$T/bad.out")"
"$MAMORI" config check "$T/bad.conf" >"$T/check.out" 2>&1
rc=$?
[ $rc = 78 ] && grep -q 'inbound.internal_networks' "$T/check.out" && ok "config check names the key" ||
	bad "config check: rc $rc $(cat "$T/check.out")"
write_config '"192.0.2.200/32"'

mamorid_start "$MAMORID" "$T/mamorid.conf"
mta_postfix_start maildir

# send ID FROM TO [swaks args...]
send() {
	local id=$1 from=$2 to=$3
	shift 3
	swaks --server 127.0.0.1 --port "$PORT" --helo mail.good.test --from "$from" --to "$to" \
		--header "X-Test-Id: $id" "$@" >"$T/swaks.$id" 2>&1
}
files_of() {
	grep -l "^X-Test-Id: $1"$'\r'"\?\$" "$MAIL"/box/new/* 2>/dev/null
}

# 1. inbound from GB with forged X-Mamori-* fields and an encoded Subject
send geo bounce@good.test rcpt@example.net --xclient-addr 81.2.69.142 \
	--header "From: Sender <user@rival.test>" \
	--header "Subject: =?UTF-8?B?5bGx55SwIOWkqumDjg==?= report" \
	--add-header "X-Mamori-Action: accept" --add-header "X-Mamori-Score: -100" \
	--add-header "X-Mamori-Reasons: none, trust me"
mta_wait_queue_empty 10
f=$(files_of geo | head -1)
if [ -n "$f" ]; then
	[ "$(grep -c '^X-Mamori-Action:' "$f")" = 1 ] && grep -q '^X-Mamori-Action: accept' "$f" &&
		ok "one X-Mamori-Action, ours" || bad "X-Mamori-Action: $(grep '^X-Mamori-Action' "$f")"
	grep -q '^X-Mamori-Score: -100' "$f" && bad "forged X-Mamori-Score kept" || ok "forged X-Mamori-Score removed"
	grep -q 'trust me' "$f" && bad "forged X-Mamori-Reasons kept" || ok "forged X-Mamori-Reasons removed"
	grep -q '^X-Mamori-Score: 1' "$f" && ok "X-Mamori-Score: 1 (org mismatch)" || bad "score: $(grep '^X-Mamori-Score' "$f")"
	grep -A1 '^X-Mamori-Reasons:' "$f" | grep -q 'org_mismatch (+1)' && ok "X-Mamori-Reasons names org_mismatch" ||
		bad "reasons: $(grep -A1 '^X-Mamori-Reasons' "$f")"
else
	bad "geo message not delivered: $(tail -3 "$T/swaks.geo")"
fi

# 2. internal client: no X-Mamori-* headers at all
send internal bounce@good.test rcpt@example.net --xclient-addr 192.0.2.200 \
	--header "From: <user@corp.test>" --add-header "X-Mamori-Action: quarantine"
mta_wait_queue_empty 10
f=$(files_of internal | head -1)
if [ -n "$f" ]; then
	grep -q '^X-Mamori-Score' "$f" && bad "internal mail got our headers" || ok "internal mail: no X-Mamori headers added"
	grep -q '^X-Mamori-Action: quarantine' "$f" && ok "internal mail left as it was" || bad "internal mail's own header changed"
else
	bad "internal message not delivered: $(tail -3 "$T/swaks.internal")"
fi

# 3. a recipient's deny list, envelope sender: refused at RCPT for that recipient only
send rcptdeny sales@rival.test "ceo@example.net,staff@example.net" --xclient-addr 81.2.69.142 \
	--header "From: <sales@rival.test>"
grep -Eq '<\*\* +550 5.7.1 sender sales@rival.test is on the deny list of ceo@example.net' "$T/swaks.rcptdeny" &&
	ok "ceo@ refused at RCPT: 550 5.7.1" || bad "no RCPT 550: $(grep '<\*\*' "$T/swaks.rcptdeny")"
mta_wait_queue_empty 10
n=$(files_of rcptdeny | wc -l)
[ "$n" = 1 ] && grep -q '^Delivered-To: staff@example.net' "$(files_of rcptdeny)" &&
	ok "staff@ still got it" || bad "rcptdeny: $n copies"

# 4. header From on ceo@'s deny list: ceo@ removed at end of message
send fromdeny bounce@good.test "ceo@example.net,staff@example.net" --xclient-addr 81.2.69.142 \
	--header "From: <boss@rival.test>"
mta_wait_queue_empty 10
n=$(files_of fromdeny | wc -l)
if [ "$n" = 1 ] && grep -q '^Delivered-To: staff@example.net' "$(files_of fromdeny)"; then
	ok "header From denied by ceo@: only staff@ got it"
else
	bad "fromdeny: $n copies: $(files_of fromdeny | xargs grep -h '^Delivered-To' 2>/dev/null)"
fi

# 5. a lookalike From: quarantined (discarded for the client), logged with its id
send lookalike bounce@good.test rcpt@example.net --xclient-addr 81.2.69.142 --header "From: <ceo@c0rp.test>"
grep -q '250 2.0.0 Ok: queued' "$T/swaks.lookalike" && ok "lookalike: 250 to the client" || bad "lookalike reply"

# 6. unresolvable sender: refused, still logged
send ghost user@ghost.test rcpt@example.net --xclient-addr 81.2.69.142
grep -Eq '<\*\* +550 5.1.8 sender domain ghost.test has no MX, A or AAAA record' "$T/swaks.ghost" &&
	ok "ghost.test refused 550 5.1.8" || bad "ghost: $(grep '<\*\*' "$T/swaks.ghost")"

# 6b. more header fields than the checks read (message.h: 2000): from
#     outside refused rather than passed unchecked
{
	printf 'From: <a@good.test>\r\nTo: <rcpt@example.net>\r\nSubject: many\r\nX-Test-Id: many\r\n'
	for i in $(seq 1 2100); do printf 'X-Junk: %d\r\n' "$i"; done
	printf '\r\nbody\r\n'
} >"$T/many.eml"
swaks --server 127.0.0.1 --port "$PORT" --helo mail.good.test --from bounce@good.test --to rcpt@example.net \
	--xclient-addr 81.2.69.142 --data "$T/many.eml" >"$T/swaks.many" 2>&1
grep -Eq '<\*\* +550 5.6.0 message not accepted: more than 2000 header fields' "$T/swaks.many" &&
	ok "2100 header fields from outside: 550 5.6.0" || bad "many headers: $(grep '<\*\*' "$T/swaks.many" | head -2)"

# 7. reload with a bad CIDR keeps the running configuration
write_config '"10.0.0.0/33"'
kill -HUP "$MPID"
for _ in $(seq 1 50); do grep -q 'reload failed' "$T/mamorid.log" && break; sleep 0.1; done
grep -q 'reload failed, keeping the running configuration: .*inbound.internal_networks' "$T/mamorid.log" &&
	ok "reload with a bad CIDR refused, naming the key" || bad "bad reload not reported"
send afterreload bounce@good.test rcpt@example.net --xclient-addr 192.0.2.200 --header "From: <a@good.test>"
mta_wait_queue_empty 10
[ -n "$(files_of afterreload)" ] && ok "still running on the old configuration" || bad "after reload: not delivered"

mamorid_stop
rc=$?
[ $rc = 0 ] && ok "mamorid stopped cleanly" || bad "mamorid exit status $rc"

# the message log, written out at shutdown
python3 - "$T/var/mamori.db" >"$T/msglog.out" 2>&1 <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.row_factory = sqlite3.Row
for r in db.execute("SELECT * FROM msglog ORDER BY id"):
    print("ROW", "|".join("%s=%s" % (k, str(r[k]).replace("\n", "\\n")) for k in r.keys()))
EOF
row() { grep -F "|$1|" "$T/msglog.out" | head -1; }
has() { # ID FIELD=VALUE...
	local id=$1 r
	shift
	r=$(row "$id")
	for kv in "$@"; do
		case "|${r#ROW }|" in
		*"|$kv|"*) ;;
		*) bad "msglog $id: no $kv in: $r"; return ;;
		esac
	done
	ok "msglog ($id): $*"
}
has "header_from=Sender <user@rival.test>" client_ip=81.2.69.142 country=GB helo=mail.good.test mail_from=bounce@good.test \
	rcpts=rcpt@example.net "subject=山田 太郎 report" spf=pass \
	direction=in action=accept score=1 dmarc=none dmarc_domain=rival.test dmarc_policy=
row "header_from=Sender <user@rival.test>" | grep -q 'signals=org_mismatch (+1): header From organisation rival.test' &&
	ok "msglog: the signal with its reason" || bad "msglog signals: $(row 'header_from=Sender <user@rival.test>')"
row "header_from=Sender <user@rival.test>" | grep -q 'auth_results=mx.test; spf=pass' &&
	ok "msglog: our Authentication-Results" || bad "msglog auth_results"
has "header_from=<a@good.test>" action=accept
r=$(grep '^ROW .*header_from=<ceo@c0rp.test>' "$T/msglog.out")
echo "$r" | grep -q '|action=quarantine|' && echo "$r" | grep -Eq '\|quarantine_id=[1-9][0-9]*$' &&
	echo "$r" | grep -q '|reason=lookalike: From domain c0rp.test is a lookalike' &&
	ok "msglog: quarantined with its id and reason" || bad "msglog lookalike: $r"
has mail_from=user@ghost.test action=reject score=6 "reason=unresolvable_sender: sender domain ghost.test has no MX, A or AAAA record"
r=$(grep '^ROW .*client_ip=192.0.2.200' "$T/msglog.out" | head -1)
echo "$r" | grep -q '|action=accept|' && echo "$r" | grep -q '|signals=|' && ok "msglog: internal mail logged, no signals" ||
	bad "msglog internal: $r"
rows=$(grep -c '^ROW' "$T/msglog.out")
# geo, internal, rcptdeny, fromdeny, lookalike, ghost, many, afterreload
[ "$rows" = 8 ] && ok "8 message-log rows" || { bad "$rows message-log rows"; cat "$T/msglog.out"; }
grep '^ROW .*|size=[0-9]*|' "$T/msglog.out" | grep -q '|action=reject|reason=unreadable message|' &&
	ok "msglog: the unreadable message refused" || bad "msglog: no row for the unreadable message"

mta_sanitizer_clean && ok "no sanitizer report" || bad "sanitizer report in the mamorid log"
if [ "$FAIL" -ne 0 ]; then
	echo "--- mamorid log"; tail -40 "$T/mamorid.log"
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
