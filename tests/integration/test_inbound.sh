#!/bin/bash
# test_inbound.sh MAMORID MAMORI
#
# Acceptance test of mamorid's inbound policy behind a real MTA (issue 4): a
# private Postfix on loopback (tests/integration/mta_lib.sh: own config,
# queue and high ports, smtpd_milters -> mamorid's unix socket,
# milter_default_action = tempfail, XCLIENT allowed from loopback, delivery
# into a Maildir, a second smtpd port without the milter that quarantine
# release re-injects through), DNS answered by the stub resolver from a zone
# file written here. Mail is sent with swaks; every case asserts its exact
# outcome: the SMTP reply swaks saw, the delivered file and its
# Authentication-Results, or the quarantine row (`mamori quarantine list
# --json`).
#
# Cases: a DKIM-signed message passing SPF, DKIM and DMARC delivered with the
# right Authentication-Results; SPF fail under p=reject refused 550 5.7.1;
# display-name impersonation of a VIP from free mail quarantined; a lookalike
# Reply-To quarantined; a DNSBL-listed client (XCLIENT ADDR=) refused; an
# unresolvable sender domain (NXDOMAIN, and one with records but no
# A/AAAA/MX) refused; DNS timeouts (sender domain, DNSBL zone) answered 4xx,
# never a pass; a quarantined message released and delivered exactly once
# (released twice). Needs root, postfix, swaks, python3; exit 77 = skipped.
set -u

MAMORID=${1:?usage: test_inbound.sh MAMORID MAMORI}
MAMORI=${2:?usage: test_inbound.sh MAMORID MAMORI}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=mta_lib.sh
. "$HERE/mta_lib.sh"
mta_check_prereqs
command -v swaks >/dev/null || { echo "SKIP: swaks is not installed"; exit 77; }

T=$(mktemp -d /tmp/inbound-test.XXXXXX)
trap mta_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
mta_init

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }

# --- DNS zone ------------------------------------------------------------
# good.test     SPF and DKIM pass from 127.0.0.1, DMARC p=reject
# strict.test   SPF -all without 127.0.0.1, DMARC p=reject
# freemail.test a free-mail provider (inbound.freemail_domains), SPF pass
# corp.test     our protected domain; c0rp.test its lookalike
# open.test     resolvable, no SPF/DMARC
# bare.test     TXT only: no A, AAAA or MX
# ghost.test    does not exist at all
# timeout.test  every query times out
# bl.test       DNSBL: 192.0.2.99 listed (127.0.0.2), 192.0.2.98 times out
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/dkim.pem" 2>/dev/null
P=$(openssl pkey -in "$T/dkim.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
# TXT character-strings hold at most 255 bytes (RFC 1035 3.3.14)
DKIM_TXT="sel._domainkey.good.test. TXT ( \"v=DKIM1; k=rsa; p=\" $(echo "$P" | fold -w 200 | sed 's/.*/"&"/' | tr '\n' ' ') )"
cat >"$T/zone.db" <<EOF
\$TTL 300
good.test.            A    127.0.0.1
good.test.            MX   10 mail.good.test.
good.test.            TXT  "v=spf1 ip4:127.0.0.1 -all"
_dmarc.good.test.     TXT  "v=DMARC1; p=reject"
mail.good.test.       A    127.0.0.1
$DKIM_TXT
strict.test.          A    192.0.2.1
strict.test.          MX   10 strict.test.
strict.test.          TXT  "v=spf1 ip4:192.0.2.1 -all"
_dmarc.strict.test.   TXT  "v=DMARC1; p=reject"
freemail.test.        MX   10 mx.freemail.test.
freemail.test.        TXT  "v=spf1 ip4:127.0.0.1 -all"
_dmarc.freemail.test. TXT  "v=DMARC1; p=none"
mx.freemail.test.     A    127.0.0.1
corp.test.            MX   10 mx.corp.test.
corp.test.            TXT  "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.corp.test.     TXT  "v=DMARC1; p=reject"
mx.corp.test.         A    192.0.2.10
c0rp.test.            A    192.0.2.66
c0rp.test.            MX   10 c0rp.test.
open.test.            A    192.0.2.50
bare.test.            TXT  "just a text record"
timeout.test.         TIMEOUT
99.2.0.192.bl.test.   A    127.0.0.2
99.2.0.192.bl.test.   TXT  "listed for testing"
98.2.0.192.bl.test.   TIMEOUT
EOF

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
  zone_file = "$T/zone.db";
  timeout_ms = 500;
};
milter = {
  socket = "unix:$SOCK";
};
inbound = {
  # every client is "outside" here, loopback included
  internal_networks = [ "192.0.2.200/32" ];
  protected_domains = [ "corp.test" ];
  freemail_domains = [ "freemail.test" ];
  vips = ( { name = "Taro Yamada"; address = "taro.yamada@corp.test"; } );
  headers = true;
};
dnsbl = {
  zones = ( { zone = "bl.test"; codes = [ "127.0.0.2 reject listed in bl.test" ]; } );
};
quarantine = {
  relay_url = "smtp://127.0.0.1:$PORT_PLAIN";
  release_attempts = 3;
};
EOF
if ! "$MAMORI" config check "$T/mamorid.conf" >"$T/check.out" 2>&1; then
	cat "$T/check.out"
	echo "FAIL: the test configuration does not validate"
	exit 1
fi

mamorid_start "$MAMORID" "$T/mamorid.conf"
mta_postfix_start maildir

# --- helpers ----------------------------------------------------------------
# mkmsg ID FROM-FIELD [extra header lines...]: $T/msg.ID, a message carrying
# X-Test-Id: ID and a unique Message-ID
mkmsg() {
	local id=$1 from=$2 h
	shift 2
	{
		printf 'From: %s\r\nTo: <rcpt@example.net>\r\nSubject: inbound test %s\r\nDate: %s\r\nMessage-ID: <%s.%s@inbound.test>\r\nX-Test-Id: %s\r\n' \
			"$from" "$id" "$(date -R)" "$id" "$$" "$id"
		for h in "$@"; do printf '%s\r\n' "$h"; done
		printf '\r\nHello,\r\n\r\nthis is test message %s.\r\n' "$id"
	} >"$T/msg.$id"
}
# send ID ENVELOPE-FROM [swaks args...]: swaks transcript in $T/swaks.ID
send() {
	local id=$1 from=$2
	shift 2
	swaks --server 127.0.0.1 --port "$PORT" --helo mail.good.test --from "$from" --to rcpt@example.net \
		--data "$T/msg.$id" "$@" >"$T/swaks.$id" 2>&1
}
# final_reply ID: the server's reply to the end of DATA, or to the command
# that failed before it (swaks marks those <**), e.g. "550 5.7.1 ..."
final_reply() {
	awk '/^ *<\*\* +[0-9][0-9][0-9][ -]/ { err = $0 }
	     dot && /^ *(<-|<\*\*) +[0-9][0-9][0-9] / { if (data == "") data = $0 }
	     /^ *-> \.\r?$/ { dot = 1 }
	     END { print (data != "" ? data : err) }' "$T/swaks.$1" | sed -E 's/^ *(<\*\*|<-) +//'
}
# files in the Maildir that carry X-Test-Id: ID
delivered_files() {
	grep -l "^X-Test-Id: $1"$'\r'"\?\$" "$MAIL"/box/new/* 2>/dev/null
}
delivered_count() {
	delivered_files "$1" | wc -l
}
# delivered ID: the one delivered file, waiting for it
delivered() {
	local f
	grep -q 'queued as' "$T/swaks.$1" 2>/dev/null || return 1
	for _ in $(seq 1 100); do
		f=$(delivered_files "$1" | head -1)
		[ -n "$f" ] && { echo "$f"; return 0; }
		sleep 0.1
	done
	return 1
}
# wait_delivered ID: the first delivered file of ID, waiting up to 10 s
wait_delivered() {
	local f
	for _ in $(seq 1 100); do
		f=$(delivered_files "$1" | head -1)
		[ -n "$f" ] && { echo "$f"; return 0; }
		sleep 0.1
	done
	return 1
}
# the unfolded header fields NAME of a file, one per line
fields() {
	awk '/^\r?$/ { exit } /^[ \t]/ { line = line " " $0; next } { if (line != "") print line; line = $0 } END { if (line != "") print line }' "$2" |
		tr -d '\r' | grep -i "^$1:"
}
# quarantine rows as JSON: qsnap takes a snapshot (one CLI run), qlist
# prints the last one
qsnap() {
	"$MAMORI" -c "$T/mamorid.conf" quarantine list --limit 0 --json >"$T/qlist.json" 2>"$T/qlist.err" ||
		bad "quarantine list --json: exit $?: $(cat "$T/qlist.err")"
}
qlist() {
	cat "$T/qlist.json"
}
# qrows ID: the quarantine ids of the rows whose fields mention
# "inbound test ID" (the subject) -- one per line
qrows() {
	qlist | python3 -c '
import json, sys
tok = "inbound test " + sys.argv[1]
try:
    data = json.load(sys.stdin)
except ValueError:
    sys.exit(3)
if isinstance(data, dict):
    for k in ("messages", "quarantine", "items", "rows"):
        if isinstance(data.get(k), list):
            data = data[k]
            break
for row in data if isinstance(data, list) else []:
    if isinstance(row, dict) and any(isinstance(v, str) and (v == tok or v.endswith(" " + sys.argv[1]) and v.startswith("inbound test")) for v in row.values()):
        print(row.get("id"))
' "$1"
}
# qrow_json QID: the row itself
qrow_json() {
	qlist | python3 -c '
import json, sys
data = json.load(sys.stdin)
if isinstance(data, dict):
    for k in ("messages", "quarantine", "items", "rows"):
        if isinstance(data.get(k), list):
            data = data[k]
            break
for row in data:
    if str(row.get("id")) == sys.argv[1]:
        print(json.dumps(row))
' "$1"
}
# expect_reply ID REGEX DESCRIPTION
expect_reply() {
	local r
	r=$(final_reply "$1")
	if echo "$r" | grep -Eq "$2"; then
		ok "$3: $r"
	else
		bad "$3: expected /$2/, got: $r"
		tail -6 "$T/swaks.$1"
	fi
}
# not_delivered ID DESCRIPTION: checked once Postfix's queue is empty
not_delivered() {
	mta_wait_queue_empty 20
	local n
	n=$(delivered_count "$1")
	[ "$n" = 0 ] && ok "$2: not delivered" || bad "$2: $n copies delivered"
}
# not_quarantined ID DESCRIPTION
not_quarantined() {
	local rows
	rows=$(qrows "$1")
	[ -z "$rows" ] && ok "$2: no quarantine row" || bad "$2: quarantined as $rows"
}
# quarantined ID DESCRIPTION: prints the row id (exactly one row expected)
quarantined() {
	local rows n
	rows=$(qrows "$1")
	n=$(echo "$rows" | grep -c .)
	if [ "$n" = 1 ]; then
		ok "$2: one quarantine row (id $rows)" >&2
		echo "$rows"
	else
		bad "$2: $n quarantine rows (list: $(qlist | head -c 600); $(cat "$T/qlist.err"))" >&2
	fi
}

# 1. DKIM-signed, SPF pass, DMARC pass: delivered, stamped
mkmsg pass '"Good Sender" <user@good.test>'
"$MAMORI" dkim sign --key "$T/dkim.pem" --domain good.test --selector sel "$T/msg.pass" >"$T/msg.pass.signed" 2>"$T/sign.err" &&
	mv "$T/msg.pass.signed" "$T/msg.pass" || bad "mamori dkim sign: $(cat "$T/sign.err")"
send pass user@good.test
expect_reply pass '^250 ' "passing message accepted"
if f=$(delivered pass); then
	ar=$(fields Authentication-Results "$f" | grep '^Authentication-Results: mx.test;')
	echo "    $ar"
	[ "$(echo "$ar" | grep -c .)" = 1 ] && ok "one Authentication-Results of ours" || bad "expected one Authentication-Results: mx.test"
	echo "$ar" | grep -q 'spf=pass[^;]*smtp.mailfrom=\(user@\)\?good.test' && ok "spf=pass smtp.mailfrom=good.test" || bad "no spf=pass for good.test"
	echo "$ar" | grep -q 'dkim=pass[^;]*header.d=good.test' && ok "dkim=pass header.d=good.test" || bad "no dkim=pass header.d=good.test"
	echo "$ar" | grep -q 'dmarc=pass[^;]*header.from=good.test' && ok "dmarc=pass header.from=good.test" || bad "no dmarc=pass header.from=good.test"
	act=$(fields X-Mamori-Action "$f")
	echo "$act" | grep -qi '^X-Mamori-Action: *accept' && ok "X-Mamori-Action: accept" || bad "X-Mamori-Action: '$act'"
	fields X-Mamori-Score "$f" | grep -q '^X-Mamori-Score: *[0-9]' && ok "X-Mamori-Score present" || bad "no X-Mamori-Score"
else
	bad "passing message not delivered"; tail -5 "$T/swaks.pass"
fi

# 2. SPF fail under p=reject
mkmsg spfreject '<user@strict.test>'
send spfreject user@strict.test
expect_reply spfreject '^550 5\.7\.1 ' "SPF fail under p=reject refused"
grep -qi 'dmarc' <<<"$(final_reply spfreject)" && ok "the 550 names DMARC" || bad "the 550 gives no DMARC reason: $(final_reply spfreject)"

# 3. VIP display name from free mail (SPF and DMARC pass there: only the
#    impersonation catches it); the same provider without it is delivered
mkmsg vip '"Taro Yamada" <taro.yamada1988@freemail.test>'
send vip taro.yamada1988@freemail.test
expect_reply vip '^250 ' "impersonation: the client sees the message taken"
mkmsg freeok '"Hanako Suzuki" <hanako@freemail.test>'
send freeok hanako@freemail.test
if f=$(delivered freeok); then ok "free mail without impersonation delivered"; else bad "free mail without impersonation not delivered: $(final_reply freeok)"; fi

# 4. lookalike Reply-To: From passes DMARC, Reply-To points at c0rp.test
mkmsg replyto '<user@good.test>' 'Reply-To: "Accounts" <billing@c0rp.test>'
"$MAMORI" dkim sign --key "$T/dkim.pem" --domain good.test --selector sel "$T/msg.replyto" >"$T/msg.replyto.signed" 2>/dev/null &&
	mv "$T/msg.replyto.signed" "$T/msg.replyto"
send replyto user@good.test
expect_reply replyto '^250 ' "lookalike Reply-To: the client sees the message taken"

# 5. DNSBL-listed client presented with XCLIENT
mkmsg dnsbl '<user@open.test>'
send dnsbl user@open.test --xclient-addr 192.0.2.99
expect_reply dnsbl '^550 5\.7\.1 ' "DNSBL-listed client refused"
grep -q 'bl.test' <<<"$(final_reply dnsbl)" && ok "the 550 names the zone" || bad "the 550 does not name bl.test: $(final_reply dnsbl)"
# a client not listed, same sender: delivered (the listing made the difference)
mkmsg dnsblok '<user@open.test>'
send dnsblok user@open.test --xclient-addr 192.0.2.97
if f=$(delivered dnsblok); then ok "unlisted client with the same sender delivered"; else bad "unlisted client not delivered: $(final_reply dnsblok)"; fi

# 6. unresolvable sender domains
mkmsg ghost '<user@ghost.test>'
send ghost user@ghost.test
expect_reply ghost '^550 ' "NXDOMAIN sender domain refused"
mkmsg bare '<user@bare.test>'
send bare user@bare.test
expect_reply bare '^550 ' "sender domain without A/AAAA/MX refused"

# 7. DNS timeouts: 451, never a pass
mkmsg timeout '<user@timeout.test>'
send timeout user@timeout.test
expect_reply timeout '^451 4\.' "sender domain DNS timeout answered 451"
mkmsg bltimeout '<user@open.test>'
send bltimeout user@open.test --xclient-addr 192.0.2.98
expect_reply bltimeout '^4[0-9][0-9] ' "DNSBL timeout answered 4xx"

# --- what was (not) delivered, what was quarantined ---------------------------
qsnap
for id in spfreject vip replyto dnsbl ghost bare timeout bltimeout; do
	not_delivered "$id" "$id"
done
for id in pass spfreject dnsbl ghost bare timeout bltimeout freeok dnsblok; do
	not_quarantined "$id" "$id"
done
QVIP=$(quarantined vip "VIP impersonation from free mail")
QRT=$(quarantined replyto "lookalike Reply-To")
if [ -n "$QVIP" ]; then
	row=$(qrow_json "$QVIP")
	echo "    $row"
	echo "$row" | grep -q 'rcpt@example.net' && ok "quarantine row keeps the recipient" || bad "quarantine row lacks rcpt@example.net"
	echo "$row" | grep -qi 'imperson\|vip\|display' && ok "quarantine row gives the impersonation reason" || bad "no impersonation reason in the row"
	"$MAMORI" -c "$T/mamorid.conf" quarantine show "$QVIP" >"$T/qshow.out" 2>&1 &&
		grep -q 'Taro Yamada' "$T/qshow.out" && ok "quarantine show $QVIP" || bad "quarantine show: $(head -5 "$T/qshow.out")"
	"$MAMORI" -c "$T/mamorid.conf" quarantine download "$QVIP" >"$T/qdl.eml" 2>"$T/qdl.err" &&
		grep -q '^X-Test-Id: vip' "$T/qdl.eml" && grep -q 'this is test message vip' "$T/qdl.eml" &&
		ok "quarantine download gives the message" || bad "quarantine download: $(cat "$T/qdl.err")"
fi
if [ -n "$QRT" ]; then
	row=$(qrow_json "$QRT")
	echo "$row" | grep -qi 'c0rp.test\|lookalike\|reply' && ok "quarantine row gives the Reply-To reason" || bad "no Reply-To reason: $row"
fi

# 8. release: delivered exactly once, even when released twice
if [ -n "$QVIP" ]; then
	"$MAMORI" -c "$T/mamorid.conf" quarantine release "$QVIP" >"$T/rel1.out" 2>&1
	rc1=$?
	[ "$rc1" = 0 ] && ok "quarantine release $QVIP" || bad "release exit $rc1: $(cat "$T/rel1.out")"
	if f=$(wait_delivered vip); then
		ok "released message delivered"
		grep -q 'this is test message vip' "$f" && ok "released body intact" || bad "released body differs"
	else
		bad "released message not delivered"
	fi
	"$MAMORI" -c "$T/mamorid.conf" quarantine release "$QVIP" >"$T/rel2.out" 2>&1
	rc2=$?
	qsnap
	# "exit 0: released (now or before)"; what matters is that nothing is sent again
	[ "$rc2" = 0 ] && ok "second release: exit 0, $(tr '\n' ' ' <"$T/rel2.out")" ||
		bad "second release exit $rc2: $(cat "$T/rel2.out")"
	qrow_json "$QVIP" | grep -q '"state": "released"' && ok "row state released" || bad "row state: $(qrow_json "$QVIP")"
	mta_wait_queue_empty 20
	sleep 0.5
	n=$(delivered_count vip)
	[ "$n" = 1 ] && ok "released message delivered exactly once" || bad "released message delivered $n times"
fi

# 9. delete
if [ -n "$QRT" ]; then
	"$MAMORI" -c "$T/mamorid.conf" quarantine delete "$QRT" >"$T/del.out" 2>&1 && ok "quarantine delete $QRT" ||
		bad "delete: $(cat "$T/del.out")"
	qsnap
	qrow_json "$QRT" | grep -q '"state": "deleted"' && ok "row state deleted" || bad "row state: $(qrow_json "$QRT")"
	"$MAMORI" -c "$T/mamorid.conf" quarantine download "$QRT" >/dev/null 2>&1
	[ $? = 1 ] && ok "a deleted message cannot be downloaded (exit 1)" || bad "download of a deleted message did not exit 1"
	"$MAMORI" -c "$T/mamorid.conf" quarantine release "$QRT" >"$T/rel3.out" 2>&1
	[ $? = 1 ] && ok "a deleted message cannot be released (exit 1)" || bad "release of a deleted message: $(cat "$T/rel3.out")"
	not_delivered replyto "deleted message"
fi

# --- stop --------------------------------------------------------------------
if mamorid_stop; then ok "mamorid stopped cleanly on SIGTERM"; else bad "mamorid exit status $?"; fi
mta_sanitizer_clean || bad "sanitizer report in the mamorid log"

if [ "$FAIL" -ne 0 ]; then
	echo "--- mamorid log"; tail -60 "$T/mamorid.log"
	echo "--- postfix log"; tail -40 "$PF/maillog" 2>/dev/null
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
