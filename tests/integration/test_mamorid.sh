#!/bin/bash
# test_mamorid.sh MAMORID [--mamori MAMORI] [--dkim-tool DKIM_TOOL]
#
# End-to-end test of mamorid behind a real MTA: a private Postfix instance on
# loopback (own config, queue and data directories in a temporary directory,
# smtpd on a random high port, smtpd_milters pointing at mamorid's unix
# socket, delivery into a Maildir through virtual(8)), DNS answered by the
# stub resolver from a zone file written here. Mail is sent with swaks.
# Checks: our Authentication-Results with spf=pass is stamped; a forged one
# carrying our authserv-id is removed while a foreign one stays; a DKIM
# signature made by `mamori dkim sign` (when MAMORI is given) verifies, and a
# simple/simple one over a folded, oddly spaced Subject made by DKIM_TOOL
# (when given) too, which needs the header bytes exactly as sent; a DNS
# timeout gives the client a 451 4.7.0; SIGHUP reloads the configuration and
# a broken file keeps the running one.
# Needs root (Postfix), the postfix and swaks packages; exit 77 = skipped.
set -u

MAMORID=${1:?usage: test_mamorid.sh MAMORID [--mamori MAMORI] [--dkim-tool DKIM_TOOL]}
shift
MAMORI=
DKIM_TOOL=
while [ $# -gt 1 ]; do
	case $1 in
	--mamori) MAMORI=$2 ;;
	--dkim-tool) DKIM_TOOL=$2 ;;
	*) echo "test_mamorid.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift 2
done
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root to run a private Postfix instance"
POSTFIX=$(command -v postfix || echo /usr/sbin/postfix)
[ -x "$POSTFIX" ] || skip "postfix is not installed (Debian package postfix)"
command -v swaks >/dev/null || skip "swaks is not installed"
id postfix >/dev/null 2>&1 || skip "no postfix user"
getent group postdrop >/dev/null || skip "no postdrop group"

T=$(mktemp -d /tmp/mamorid-test.XXXXXX)
# smtpd (user postfix) must reach the socket below $T
chmod 755 "$T"
PF=$T/postfix
MAIL=$T/mail
SOCK=$T/var/mamorid.sock
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MPID=
PF_STARTED=

cleanup() {
	[ -n "$PF_STARTED" ] && "$POSTFIX" -c "$PF/etc" stop >/dev/null 2>&1
	if [ -n "$MPID" ] && kill -0 "$MPID" 2>/dev/null; then
		kill -TERM "$MPID"
		for _ in $(seq 1 100); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$MPID" 2>/dev/null && kill -KILL "$MPID"
	fi
	if [ "${KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
# a killed test (ctest timeout) still stops its Postfix and mamorid
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }

# --- DNS zone ------------------------------------------------------------
DKIM_TXT=
if { [ -n "$MAMORI" ] && [ -x "$MAMORI" ]; } || { [ -n "$DKIM_TOOL" ] && [ -x "$DKIM_TOOL" ]; }; then
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/dkim.pem" 2>/dev/null
	P=$(openssl pkey -in "$T/dkim.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
	# TXT character-strings hold at most 255 bytes (RFC 1035 3.3.14)
	DKIM_TXT="sel._domainkey.spf.test. TXT ( \"v=DKIM1; k=rsa; p=\" $(echo "$P" | fold -w 200 | sed 's/.*/"&"/' | tr '\n' ' ') )"
fi
cat >"$T/zone.db" <<EOF
\$TTL 300
spf.test.          TXT "v=spf1 ip4:127.0.0.1 -all"
spf.test.          A   127.0.0.1
_dmarc.spf.test.   TXT "v=DMARC1; p=none"
mail.spf.test.     A   127.0.0.1
timeout.test.      TIMEOUT
$DKIM_TXT
EOF

# --- mamorid ---------------------------------------------------------------
write_config() { # authserv-id
	cat >"$T/mamorid.conf" <<EOF
general = {
  authserv_id = "$1";
  data_dir = "$T/var";
  user = "postfix";
  log_level = "info";
  syslog = false;
};
dns = {
  resolver = "stub";
  zone_file = "$T/zone.db";
};
milter = {
  socket = "unix:$SOCK";
};
EOF
}
# command line and start-up refusals, no MTA needed
"$MAMORID" --help >"$T/help.out" 2>&1 && grep -q '^usage: mamorid' "$T/help.out" && ok "--help" || bad "--help"
"$MAMORID" -x >/dev/null 2>&1
[ $? = 64 ] && ok "unknown option: exit 64" || bad "unknown option not refused with 64"
echo 'general = { no_such_key = 1; };' >"$T/bad.conf"
"$MAMORID" -f -c "$T/bad.conf" >"$T/bad.out" 2>&1
[ $? = 78 ] && grep -q 'no_such_key' "$T/bad.out" && ok "bad config: exit 78 naming the key" || bad "bad config: $(cat "$T/bad.out")"
write_config mx.test
sed 's/user = "postfix"/user = "no-such-user-mamori"/' "$T/mamorid.conf" >"$T/nouser.conf"
timeout 10 "$MAMORID" -f -c "$T/nouser.conf" >"$T/nouser.out" 2>&1
[ $? = 1 ] && grep -q 'no-such-user-mamori.*does not exist' "$T/nouser.out" && ok "missing general.user with -c is fatal" ||
	bad "missing user: $(cat "$T/nouser.out")"
[ -e "$T/var" ] && bad "the refused start created $T/var"
# a data directory prepared by the packager, with a stale socket file from
# a crashed run that must be replaced
mkdir -m 750 "$T/var" && chown postfix:postfix "$T/var"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
[ -S "$SOCK" ] || bad "could not leave a stale socket"

"$MAMORID" -f -c "$T/mamorid.conf" >"$T/mamorid.log" 2>&1 &
MPID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && grep -q "listening" "$T/mamorid.log" && break; sleep 0.1; done
if ! grep -q "mamorid: milter listening on unix:$SOCK" "$T/mamorid.log"; then
	cat "$T/mamorid.log"
	echo "FAIL: mamorid did not start"
	exit 1
fi
ok "mamorid started: $(grep listening "$T/mamorid.log")"
grep -q "console: not available in this build" "$T/mamorid.log" && ok "console line printed" || bad "no console line"
[ "$(stat -c %U "$SOCK")" = postfix ] && ok "socket handed to general.user" || bad "socket owner $(stat -c %U "$SOCK")"
[ "$(ps -o user= -p "$MPID" | tr -d ' ')" = postfix ] && ok "mamorid dropped root" || bad "mamorid runs as $(ps -o user= -p "$MPID")"

# --- Postfix ----------------------------------------------------------------
mkdir -p "$PF/etc" "$PF/queue" "$PF/data" "$MAIL"
chown postfix:postfix "$PF/data" "$MAIL"
. "${BASH_SOURCE[0]%/*}"/postfix_base.sh
pf_base_main_cf >"$PF/etc/main.cf"
cat >>"$PF/etc/main.cf" <<EOF
smtpd_milters = unix:$SOCK
milter_default_action = tempfail
milter_protocol = 6
smtputf8_enable = no
biff = no
EOF
# no chroot: the socket and maps live outside any chroot tree
cat >"$PF/etc/master.cf" <<EOF
127.0.0.1:$PORT inet n - n - - smtpd
EOF
cat "${BASH_SOURCE[0]%/*}"/postfix-services.cf >>"$PF/etc/master.cf"
if ! "$POSTFIX" -c "$PF/etc" start >"$T/postfix-start.log" 2>&1; then
	cat "$T/postfix-start.log"
	echo "FAIL: postfix did not start"
	exit 1
fi
PF_STARTED=1
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

# send TESTID FROM [extra swaks args...]: swaks transcript in $T/swaks.TESTID
send() {
	local id=$1 from=$2
	shift 2
	swaks --server 127.0.0.1 --port "$PORT" --helo mail.spf.test --from "$from" --to "rcpt@example.net" \
		--header "X-Test-Id: $id" "$@" >"$T/swaks.$id" 2>&1
}
# delivered TESTID: the delivered file, waiting for it
delivered() {
	local f
	# not accepted by Postfix: nothing to wait for
	grep -q 'queued as' "$T/swaks.$1" 2>/dev/null || return 1
	for _ in $(seq 1 100); do
		f=$(grep -l "^X-Test-Id: $1\$" "$MAIL"/box/new/* 2>/dev/null | head -1)
		[ -n "$f" ] && { echo "$f"; return 0; }
		sleep 0.1
	done
	return 1
}
# the unfolded Authentication-Results fields of a file, one per line
authres() {
	awk '/^\r?$/ { exit } /^[ \t]/ { line = line " " $0; next } { if (line != "") print line; line = $0 } END { if (line != "") print line }' "$1" |
		tr -d '\r' | grep -i '^Authentication-Results:'
}

# 1. SPF pass; a forged field with our id goes, a foreign one stays
send spf user@spf.test --header "Subject: spf" --header "From: <user@spf.test>" \
	--add-header "Authentication-Results: mx.test; dkim=pass header.d=forged.example" \
	--add-header "Authentication-Results: other.example; spf=fail smtp.mailfrom=foreign.example"
if f=$(delivered spf); then
	ar=$(authres "$f")
	echo "$ar" | sed 's/^/    /'
	[ "$(echo "$ar" | grep -c '^Authentication-Results: mx.test;')" = 1 ] && ok "one Authentication-Results of ours" ||
		bad "expected exactly one Authentication-Results: mx.test"
	echo "$ar" | grep '^Authentication-Results: mx.test;' | grep -q 'spf=pass' && ok "spf=pass stamped" || bad "no spf=pass"
	echo "$ar" | grep -q 'smtp.mailfrom=user@spf.test\|smtp.mailfrom=spf.test' && ok "smtp.mailfrom named" || bad "no smtp.mailfrom"
	grep -q 'forged.example' "$f" && bad "forged Authentication-Results kept" || ok "forged Authentication-Results removed"
	echo "$ar" | grep -q '^Authentication-Results: other.example; spf=fail' && ok "foreign Authentication-Results kept" ||
		bad "foreign Authentication-Results lost"
	# ours sits above the message's own fields
	first_ar=$(grep -n -m1 '^Authentication-Results:' "$f" | cut -d: -f1)
	subj=$(grep -n -m1 '^Subject:' "$f" | cut -d: -f1)
	[ "$first_ar" -lt "$subj" ] && sed -n "${first_ar}p" "$f" | grep -q 'mx.test' && ok "ours inserted at the top" ||
		bad "ours not at the top"
else
	bad "spf message not delivered"; cat "$T/swaks.spf"
fi

# 2. a sender domain without SPF still delivers (no policy yet), spf=none
send nospf user@nospf.test --header "Subject: nospf"
if f=$(delivered nospf); then
	authres "$f" | grep '^Authentication-Results: mx.test;' | grep -q 'spf=none' && ok "spf=none for a domain without SPF" ||
		bad "expected spf=none: $(authres "$f")"
else
	bad "nospf message not delivered"; cat "$T/swaks.nospf"
fi

# 3. DKIM signed by mamori dkim sign
if [ -n "$MAMORI" ] && [ -x "$MAMORI" ]; then
	printf 'From: <user@spf.test>\r\nTo: <rcpt@example.net>\r\nSubject: signed\r\nX-Test-Id: dkim\r\nDate: %s\r\nMessage-ID: <dkim.%s@spf.test>\r\n\r\nSigned body line one.\r\nline two\r\n' \
		"$(date -R)" "$$" >"$T/unsigned.eml"
	if "$MAMORI" dkim sign --key "$T/dkim.pem" --domain spf.test --selector sel "$T/unsigned.eml" >"$T/signed.eml" 2>"$T/sign.err"; then
		swaks --server 127.0.0.1 --port "$PORT" --helo mail.spf.test --from user@spf.test --to rcpt@example.net \
			--data "$T/signed.eml" >"$T/swaks.dkim" 2>&1
		if f=$(delivered dkim); then
			ar=$(authres "$f" | grep '^Authentication-Results: mx.test;')
			echo "    $ar"
			echo "$ar" | grep -q 'dkim=pass' && ok "dkim=pass through Postfix" || bad "no dkim=pass"
			echo "$ar" | grep -q 'header.d=spf.test' && ok "header.d=spf.test" || bad "no header.d=spf.test"
			echo "$ar" | grep -q 'dmarc=pass' && ok "dmarc=pass" || bad "no dmarc=pass"
		else
			bad "dkim message not delivered"; cat "$T/swaks.dkim"
		fi
	else
		bad "mamori dkim sign failed: $(cat "$T/sign.err")"
	fi
else
	echo "note: no mamori CLI given, DKIM case not run"
fi

# 3b. simple/simple: header bytes must reach the verifier exactly as sent
#     (HDR_LEADSPC, folds with Postfix's bare LF turned back into CRLF)
if [ -n "$DKIM_TOOL" ] && [ -x "$DKIM_TOOL" ]; then
	printf 'From: <user@spf.test>\r\nTo:\t<rcpt@example.net>\r\nSubject:no-space,  two  spaces,\r\n\tand a fold\r\nX-Test-Id: simple\r\nDate: %s\r\n\r\nBody.\r\n' \
		"$(date -R)" >"$T/unsigned-simple.eml"
	if "$DKIM_TOOL" sign --key "$T/dkim.pem" --domain spf.test --selector sel --canon simple/simple \
		<"$T/unsigned-simple.eml" >"$T/signed-simple.eml" 2>"$T/sign-simple.err"; then
		swaks --server 127.0.0.1 --port "$PORT" --helo mail.spf.test --from user@spf.test --to rcpt@example.net \
			--data "$T/signed-simple.eml" >"$T/swaks.simple" 2>&1
		if f=$(delivered simple); then
			ar=$(authres "$f" | grep '^Authentication-Results: mx.test;')
			echo "    $ar"
			echo "$ar" | grep -q 'dkim=pass' && ok "simple/simple dkim=pass through Postfix" ||
				bad "simple/simple signature did not verify"
		else
			bad "simple/simple message not delivered"; cat "$T/swaks.simple"
		fi
	else
		bad "dkim_tool sign failed: $(cat "$T/sign-simple.err")"
	fi
else
	echo "note: no dkim_tool given, simple/simple case not run"
fi

# 3c. concurrent connections share the one resolver
for i in 1 2 3 4 5 6; do
	send "par$i" user@spf.test --header "Subject: parallel $i" &
done
wait $(jobs -p | grep -v "^$MPID\$") 2>/dev/null
npar=0
for i in 1 2 3 4 5 6; do
	f=$(delivered "par$i") && authres "$f" | grep '^Authentication-Results: mx.test;' | grep -q 'spf=pass' && npar=$((npar + 1))
done
[ "$npar" = 6 ] && ok "6 parallel messages stamped spf=pass" || bad "only $npar of 6 parallel messages stamped"

# 4. DNS timeout: 451 4.7.0, never a silent pass
send timeout user@timeout.test --header "Subject: timeout" --header "From: <user@timeout.test>"
rc=$?
if grep -q '<\*\* *451 4.7.0 .*temporary DNS failure' "$T/swaks.timeout"; then
	ok "DNS timeout answered 451 4.7.0 (swaks exit $rc)"
else
	bad "DNS timeout: no 451 4.7.0"; tail -8 "$T/swaks.timeout"
fi
delivered_none=$(grep -l '^X-Test-Id: timeout' "$MAIL"/box/new/* 2>/dev/null)
[ -z "$delivered_none" ] && ok "timeout message not delivered" || bad "timeout message was delivered"

# 5. SIGHUP: a broken file keeps the running configuration ...
echo 'general = { authserv_id = ; };' >"$T/mamorid.conf"
kill -HUP "$MPID"
for _ in $(seq 1 50); do grep -q 'reload failed' "$T/mamorid.log" && break; sleep 0.1; done
grep -q 'reload failed, keeping the running configuration' "$T/mamorid.log" && ok "broken reload refused" || bad "broken reload not reported"
kill -0 "$MPID" 2>/dev/null && ok "mamorid alive after a broken reload" || bad "mamorid died on a broken reload"
# ... and a good one applies to the next message
write_config mx2.test
kill -HUP "$MPID"
for _ in $(seq 1 50); do grep -q 'configuration reloaded' "$T/mamorid.log" && break; sleep 0.1; done
send reload user@spf.test --header "Subject: reload" \
	--add-header "Authentication-Results: mx2.test; spf=pass (forged after reload)"
if f=$(delivered reload); then
	ar=$(authres "$f")
	echo "$ar" | grep -q '^Authentication-Results: mx2.test;.*spf=pass' && ok "reloaded authserv-id used" || bad "reload not applied: $ar"
	grep -q 'forged after reload' "$f" && bad "forged field under the new id kept" || ok "forged field under the new id removed"
else
	bad "reload message not delivered"; cat "$T/swaks.reload"
fi

# the per-message log lines carry the queue id
grep -Eq 'mamorid: info: [0-9A-Za-z]+: mx.test; .*spf=pass' "$T/mamorid.log" && ok "per-message log line with queue id" ||
	bad "no per-message log line"

# --- stop --------------------------------------------------------------------
kill -TERM "$MPID"
for _ in $(seq 1 150); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$MPID" 2>/dev/null; then
	bad "mamorid still running 15 s after SIGTERM"
else
	wait "$MPID"
	rc=$?
	[ "$rc" = 0 ] && ok "mamorid stopped cleanly on SIGTERM" || bad "mamorid exit status $rc"
	MPID=
fi
if grep -Eq 'ERROR: AddressSanitizer|runtime error:' "$T/mamorid.log"; then
	bad "sanitizer report in the mamorid log"
fi

if [ "$FAIL" -ne 0 ]; then
	echo "--- mamorid log"; cat "$T/mamorid.log"
	echo "--- postfix log"; tail -40 "$PF/maillog" 2>/dev/null
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
