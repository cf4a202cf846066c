#!/bin/bash
# test_submission.sh MAMORID MAMORI
#
# Acceptance test of the submission guard (issue 5) behind a real MTA: a
# private Postfix instance on loopback (own config, queue and data
# directories in a temporary directory) with three submission-style smtpd
# services doing SMTP AUTH through Cyrus SASL against a sasldb this script
# creates (saslpasswd2 -f; auxprop/sasldb in a smtpd.conf the test owns):
#   - PORT: smtpd_milters -> mamorid, the guard decides at end of message
#     from {auth_authen};
#   - POL_PORT: no milter, check_policy_service -> mamorid's
#     submission.policy_listen socket (Postfix policy delegation protocol)
#     in smtpd_recipient_restrictions;
#   - EOD_PORT: the same in smtpd_end_of_data_restrictions.
# XCLIENT is allowed for loopback so swaks can present any client address
# (--xclient-addr) before AUTH; countries come from the MaxMind test
# database in ../shared/corpus/mmdb-test/ (GeoLite2-Country-Test.mmdb).
# Delivery goes into a Maildir through virtual(8).
#
# Checks, each on the exact SMTP reply swaks sees (and, for locks,
# `mamori account show|list --json`):
#   1. account_messages N/1h: messages 1..N delivered, N+1 refused with
#      submission.reply_code 4.7.1 and the limit in the text; a group's
#      own limit replaces it for its account;
#   2. a country in deny_countries: 554 5.7.1; another country accepted;
#   3. unauthenticated mail from that country, over the limit: untouched;
#   4. the limit through the policy service, at RCPT (a message counts
#      once whatever its recipients; N+1 refused for every recipient) and
#      at end of data; a denied country there too;
#   5. `mamori account lock` refuses the account's mail, the lock survives
#      a restart of mamorid, `unlock` restores it;
#   6. more client addresses than lock_max_ips lock the account: that
#      message and the next are refused (also by the policy service),
#      unlock restores it;
#   7. the same with countries and lock_max_countries;
#   8. one notification mail per automatic lock; locks logged.
# Needs root (Postfix), postfix, swaks, jq, sasl2-bin (saslpasswd2) and
# libsasl2-modules (PLAIN, sasldb auxprop); exit 77 = skipped.
set -u

MAMORID=${1:?usage: test_submission.sh MAMORID MAMORI}
MAMORI=${2:?usage: test_submission.sh MAMORID MAMORI}
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root to run a private Postfix instance"
POSTFIX=$(command -v postfix || echo /usr/sbin/postfix)
[ -x "$POSTFIX" ] || skip "postfix is not installed (Debian package postfix)"
command -v swaks >/dev/null || skip "swaks is not installed"
command -v jq >/dev/null || skip "jq is not installed"
SASLPASSWD=$(command -v saslpasswd2 || echo /usr/sbin/saslpasswd2)
[ -x "$SASLPASSWD" ] || skip "saslpasswd2 is not installed (Debian package sasl2-bin)"
postconf -a 2>/dev/null | grep -qx cyrus || skip "this Postfix has no Cyrus SASL support"
id postfix >/dev/null 2>&1 || skip "no postfix user"
getent group postdrop >/dev/null || skip "no postdrop group"
HERE=$(cd "$(dirname "$0")" && pwd)
# MAMORI_MMDB is set by CTest from MAMORI_CORPUS; by hand, ../shared beside the tree
MMDB=${MAMORI_MMDB:-$HERE/../../../shared/corpus/mmdb-test/test-data/GeoLite2-Country-Test.mmdb}
[ -r "$MMDB" ] || skip "no test GeoIP database at $MMDB (../shared/corpus/mmdb-test)"

T=$(mktemp -d /tmp/mamori-submission.XXXXXX)
# smtpd (user postfix) must reach the sockets and the sasldb below $T
chmod 755 "$T"
PF=$T/postfix
MAIL=$T/mail
SOCK=$T/var/mamorid.sock
POLICY_SOCK=$T/var/policy.sock
# a loopback port nobody listens on, below the ephemeral range (so no
# client connection holds it; ip_local_port_range starts at 32768) -- bash
# only: a python start costs seconds on a loaded machine
freeport() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
PORT=$(freeport)        # submission through the milter
POL_PORT=$(freeport)    # through the policy service at RCPT
EOD_PORT=$(freeport)    # through the policy service at end of data
while [ "$POL_PORT" = "$PORT" ]; do POL_PORT=$(freeport); done
while [ "$EOD_PORT" = "$PORT" ] || [ "$EOD_PORT" = "$POL_PORT" ]; do EOD_PORT=$(freeport); done
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
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }

# --- test data ---------------------------------------------------------------
# addresses with known countries in GeoLite2-Country-Test.mmdb
# (source-data/GeoLite2-Country-Test.json)
IP_GB1=81.2.69.142   # 81.2.69.142/31  GB
IP_GB2=81.2.69.145   # 81.2.69.144/28  GB
IP_GB3=81.2.69.161   # 81.2.69.160/27  GB
IP_SE=89.160.20.130  # 89.160.20.128/25 SE
IP_CN=111.235.160.1  # 111.235.160.0/22 CN
IP_US=50.114.0.1     # 50.114.0.0/22   US
if command -v mmdblookup >/dev/null; then
	# the data the cases below rely on, checked where the tool exists
	for pair in "$IP_GB1 GB" "$IP_GB2 GB" "$IP_GB3 GB" "$IP_SE SE" "$IP_CN CN" "$IP_US US"; do
		set -- $pair
		got=$(mmdblookup -f "$MMDB" -i "$1" country iso_code 2>/dev/null | sed -n 's/.*"\(..\)".*/\1/p')
		[ "$got" = "$2" ] || { echo "FAIL: test database says $1 is '$got', expected $2"; exit 1; }
	done
fi

PASSWORD=s3cret-test
ACCOUNTS="plumb@test limit@test bulk@test iplock@test cclock@test deny@test policy@test eod@test manual@test"
# Debian's Postfix reads the Cyrus application file from $config_directory/sasl
# whatever cyrus_sasl_config_path says; upstream honours that parameter:
# both point at the same directory
SASLDIR=$PF/etc/sasl
mkdir -p "$T/sasl" "$SASLDIR"
for a in $ACCOUNTS; do
	echo -n "$PASSWORD" | "$SASLPASSWD" -f "$T/sasl/sasldb2" -p -c -u "${a#*@}" "${a%@*}" ||
		{ echo "FAIL: saslpasswd2 for $a"; exit 1; }
done
chown -R postfix:postfix "$T/sasl"
chmod 600 "$T/sasl/sasldb2"
cat >"$SASLDIR/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $T/sasl/sasldb2
EOF

cat >"$T/zone.db" <<EOF
\$TTL 300
spf.test.      TXT "v=spf1 ip4:127.0.0.1 ~all"
spf.test.      A   127.0.0.1
sender.test.   TXT "v=spf1 ?all"
sender.test.   A   192.0.2.1
sender.test.   MX  10 sender.test.
client.test.   A   192.0.2.2
EOF

# --- mamorid -------------------------------------------------------------------
# Two configurations, one mamorid after the other on the same store:
#   A: a small message limit (LIMIT/1h), CN denied, lock thresholds out of reach;
#   B: a large message limit, lock after more than LOCK_IPS addresses or
#      LOCK_COUNTRIES countries, so the lock cases never meet the limit.
# The restart in between also shows that locks live in the store.
LIMIT=3
REPLY_CODE=452
LOCK_IPS=2
LOCK_COUNTRIES=1
BULK_LIMIT=5  # the group "bulk": more than the default
write_config() { # A|B
	local messages=$LIMIT max_ips=10 max_countries=5
	if [ "$1" = B ]; then
		messages=50
		max_ips=$LOCK_IPS
		max_countries=$LOCK_COUNTRIES
	fi
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
};
milter = {
  socket = "unix:$SOCK";
};
geoip = {
  country_db = "$MMDB";
};
submission = {
  reply_code = $REPLY_CODE;
  account_messages = [ "$messages/1h" ];
  account_recipients = [ "1000/1h" ];
  deny_countries = [ "CN" ];
  lock_max_ips = $max_ips;
  lock_max_countries = $max_countries;
  lock_window = 3600;
  lock_duration = 0;
  notify = "admin@example.net";
  notify_from = "mamori@mx.test";
  notify_smtp_url = "smtp://127.0.0.1:$POL_PORT";
  policy_listen = "unix:$POLICY_SOCK";
  groups = (
    { name = "bulk"; accounts = [ "bulk@test" ]; messages = [ "$BULK_LIMIT/1h" ]; }
  );
};
EOF
}
mamorid_start() {
	local before
	before=$(grep -c 'milter listening' "$T/mamorid.log" 2>/dev/null)
	"$MAMORID" -f -c "$T/mamorid.conf" >>"$T/mamorid.log" 2>&1 &
	MPID=$!
	for _ in $(seq 1 300); do
		[ "$(grep -c 'milter listening' "$T/mamorid.log" 2>/dev/null)" -gt "${before:-0}" ] && [ -S "$SOCK" ] && [ -S "$POLICY_SOCK" ] && break
		kill -0 "$MPID" 2>/dev/null || break
		sleep 0.1
	done
	if ! [ -S "$SOCK" ] || ! kill -0 "$MPID" 2>/dev/null; then
		cat "$T/mamorid.log"
		echo "FAIL: mamorid did not start"
		exit 1
	fi
	[ -S "$POLICY_SOCK" ] && ok "mamorid started, policy service on $POLICY_SOCK" ||
		bad "mamorid started without a policy socket at $POLICY_SOCK"
}
mamorid_stop() {
	kill -TERM "$MPID"
	for _ in $(seq 1 150); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$MPID" 2>/dev/null; then
		bad "mamorid still running 15 s after SIGTERM"
		kill -KILL "$MPID"
	fi
	wait "$MPID"
	local rc=$?
	[ "$rc" = 0 ] && ok "mamorid stopped cleanly" || bad "mamorid exit status $rc"
	MPID=
}
mkdir -m 750 "$T/var" && chown postfix:postfix "$T/var"
: >"$T/mamorid.log"
write_config A
mamorid_start
# the administrator's command line, as root, on mamorid's configuration
mamori() { "$MAMORI" -c "$T/mamorid.conf" "$@"; }
mamori account --help >"$T/help.out" 2>&1 && grep -q '^usage: mamori account list' "$T/help.out" &&
	ok "mamori account --help" || bad "mamori account --help: $(head -3 "$T/help.out")"

# --- Postfix -------------------------------------------------------------------
mkdir -p "$PF/etc" "$PF/queue" "$PF/data" "$MAIL"
chown postfix:postfix "$PF/data" "$MAIL"
. "$HERE"/postfix_base.sh
pf_base_main_cf >"$PF/etc/main.cf"
cat >>"$PF/etc/main.cf" <<EOF
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $SASLDIR
smtpd_sasl_security_options = noanonymous
smtpd_tls_auth_only = no
milter_default_action = tempfail
milter_protocol = 6
smtputf8_enable = no
biff = no
EOF
# no chroot: the sockets, sasldb and maps live outside any chroot tree
cat >"$PF/etc/master.cf" <<EOF
127.0.0.1:$PORT inet n - n - - smtpd
  -o syslog_name=postfix/milter
  -o smtpd_milters=unix:$SOCK
127.0.0.1:$POL_PORT inet n - n - - smtpd
  -o syslog_name=postfix/policy
  -o smtpd_milters=
  -o smtpd_recipient_restrictions=check_policy_service,unix:$POLICY_SOCK
127.0.0.1:$EOD_PORT inet n - n - - smtpd
  -o syslog_name=postfix/eod
  -o smtpd_milters=
  -o smtpd_end_of_data_restrictions=check_policy_service,unix:$POLICY_SOCK
EOF
cat "$HERE"/postfix-services.cf >>"$PF/etc/master.cf"
if ! "$POSTFIX" -c "$PF/etc" start >"$T/postfix-start.log" 2>&1; then
	cat "$T/postfix-start.log"
	echo "FAIL: postfix did not start"
	exit 1
fi
PF_STARTED=1
for p in "$PORT" "$POL_PORT" "$EOD_PORT"; do
	for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
done

# --- helpers ---------------------------------------------------------------------
# send TESTID PORT CLIENT_IP ACCOUNT|- [extra swaks args...]: one message,
# transcript in $T/swaks.TESTID; ACCOUNT "-" sends without AUTH
send() {
	local id=$1 port=$2 ip=$3 acct=$4
	shift 4
	local auth=()
	[ "$acct" != - ] && auth=(--auth PLAIN --auth-user "$acct" --auth-password "$PASSWORD")
	swaks --server 127.0.0.1 --port "$port" --helo client.test --xclient-addr "$ip" \
		--from "user@sender.test" --to "rcpt@example.net" "${auth[@]}" \
		--header "X-Test-Id: $id" --header "Subject: $id" "$@" >"$T/swaks.$id" 2>&1
}
# replies TESTID: the server's reply lines ("250 2.0.0 Ok: queued as ...")
replies() { sed -En 's/^<[-~*]+ +([0-9]{3}[ -])/\1/p' "$T/swaks.$1"; }
# reply TESTID: the last reply before QUIT's, i.e. the verdict of the session
reply() { replies "$1" | grep -v '^221 ' | tail -1; }
# authed TESTID: AUTH succeeded in that session
authed() { replies "$1" | grep -q '^235 '; }
# delivered TESTID: the delivered file, waiting for it
delivered() {
	local f
	grep -q 'queued as' "$T/swaks.$1" 2>/dev/null || return 1
	for _ in $(seq 1 300); do
		f=$(grep -l "^X-Test-Id: $1\$" "$MAIL"/box/new/* 2>/dev/null | head -1)
		[ -n "$f" ] && { echo "$f"; return 0; }
		sleep 0.1
	done
	return 1
}
# not_delivered TESTID: no file carries that id (after the accepted ones arrived)
not_delivered() { ! grep -ql "^X-Test-Id: $1\$" "$MAIL"/box/new/* 2>/dev/null; }
# expect TESTID CODE ENHANCED [TEXT-EREGEX]: the verdict of the session is
# exactly that code and enhanced code (and its text matches); AUTH must have
# succeeded unless the session was sent without an account
expect() {
	local id=$1 code=$2 enh=$3 re=${4:-}
	local r
	r=$(reply "$id")
	if grep -q '^ -> AUTH ' "$T/swaks.$id" && ! authed "$id"; then
		bad "$id: SMTP AUTH failed: $r"
		return 1
	fi
	if [[ $r == "$code $enh "* ]] && { [ -z "$re" ] || echo "$r" | grep -Eq -- "$re"; }; then
		ok "$id: $r"
		return 0
	fi
	bad "$id: expected $code $enh${re:+ /$re/}, got '$r'"
	sed 's/^/    /' "$T/swaks.$id" | grep -v '^     -> [A-Z][a-z-]*:\|This is a test' | tail -12
	return 1
}
# accepted TESTID: 250 after DATA; that it arrived in the Maildir is
# checked at the end (all_delivered), while the next sessions run
ACCEPTED=
REFUSED=
accepted() {
	expect "$1" 250 2.0.0 'queued as' || return 1
	ACCEPTED="$ACCEPTED $1"
}
all_delivered() {
	local id missing n have
	for _ in $(seq 1 150); do
		have=" $(grep -h '^X-Test-Id: ' "$MAIL"/box/new/* 2>/dev/null | cut -d' ' -f2 | tr '\n' ' ') "
		missing='' n=0
		for id in $ACCEPTED; do
			if [[ $have == *" $id "* ]]; then n=$((n + 1)); else missing="$missing $id"; fi
		done
		[ -z "$missing" ] && break
		sleep 0.2
	done
	[ -z "$missing" ] && ok "all $n accepted messages delivered" || bad "accepted but not delivered:$missing"
	# the queue has settled now: none of the refused ones arrived after all
	missing=
	for id in $REFUSED; do not_delivered "$id" || missing="$missing $id"; done
	[ -z "$missing" ] && ok "none of the refused messages delivered" || bad "refused but delivered:$missing"
}
# refused TESTID CODE ENHANCED TEXT-EREGEX: refused so, and never delivered
refused() {
	expect "$@"
	not_delivered "$1" || bad "$1 refused but delivered"
	REFUSED="$REFUSED $1"
}

# check_locked ACCOUNT BY REASON-EREGEX [IP CC]: `mamori account show --json`
# says locked (until unlocked) by BY for a reason matching, the newest lock
# or unlock event is that lock (from IP in country CC when given), and
# `list --json` has it
check_locked() {
	local acct=$1 by=$2 re=$3 ip=${4:-} cc=${5:-}
	local j l
	# mamorid writes its own locks from a background thread: give it a moment
	for _ in $(seq 1 50); do
		if ! j=$(mamori account show "$acct" --json 2>"$T/show.err"); then
			bad "mamori account show $acct --json failed: $(cat "$T/show.err")"
			return
		fi
		echo "$j" | jq -e '.locked == true' >/dev/null && break
		sleep 0.2
	done
	echo "$j" >"$T/show.$acct.json"
	if echo "$j" | jq -e --arg a "$acct" --arg by "$by" --arg re "$re" --arg ip "$ip" --arg cc "$cc" '
		.account == $a and .locked == true and .lock.account == $a and .lock.by == $by and
		.lock.until == null and .lock.until_unix == 0 and (.lock.reason | test($re; "i")) and
		(.lock.locked_at_unix > 0) and
		([.events[] | select(.event == "lock" or .event == "unlock")][0] as $e |
		 $e.event == "lock" and $e.by == $by and
		 ($ip == "" or $e.client_ip == $ip) and ($cc == "" or $e.country == $cc))' >/dev/null; then
		ok "account show $acct: locked by $by, \"$(echo "$j" | jq -r .lock.reason)\"${ip:+ from $ip ($cc)}"
	else
		bad "account show $acct: expected locked by $by /$re/${ip:+ from $ip ($cc)}:"
		sed 's/^/    /' "$T/show.$acct.json" | head -40
	fi
	if l=$(mamori account list --json 2>"$T/list.err") &&
		echo "$l" | jq -e --arg a "$acct" --arg by "$by" '[.[] | select(.account == $a and .by == $by)] | length == 1' >/dev/null; then
		ok "account list: $acct listed"
	else
		bad "account list --json does not list $acct: $l $(cat "$T/list.err")"
	fi
}
# check_unlocked ACCOUNT: show --json says not locked, the newest lock or
# unlock event is an unlock by the CLI (as root), and list --json no longer
# has it
check_unlocked() {
	local acct=$1 j l
	j=$(mamori account show "$acct" --json 2>"$T/show.err")
	if echo "$j" | jq -e --arg a "$acct" '.account == $a and .locked == false and (has("lock") | not) and
		([.events[] | select(.event == "lock" or .event == "unlock")] as $e |
		 $e[0].event == "unlock" and $e[0].by == "cli:root" and $e[1].event == "lock")' >/dev/null; then
		ok "account show $acct: unlocked by cli:root"
	else
		bad "account show $acct after unlock: $j $(cat "$T/show.err")"
	fi
	if l=$(mamori account list --json 2>"$T/list.err") &&
		echo "$l" | jq -e --arg a "$acct" 'type == "array" and ([.[] | select(.account == $a)] | length == 0)' >/dev/null; then
		ok "account list: $acct gone"
	else
		bad "account list --json after unlocking $acct: $l $(cat "$T/list.err")"
	fi
}
# applied EREGEX: wait (up to 30 s) for mamorid to log that it applied a
# change made by the CLI (it polls the store every GUARD_POLL_MS, 200 ms)
applied() {
	for _ in $(seq 1 300); do
		grep -Eq "$1" "$T/mamorid.log" && return 0
		sleep 0.1
	done
	bad "mamorid did not log /$1/ within 30 s"
	return 1
}

# --- 0. the plumbing ----------------------------------------------------------------
# AUTH against the sasldb after XCLIENT, and the milter sees the XCLIENT
# address: spf.test allows only 127.0.0.1, so softfail proves it is not
# judging the loopback address
send plumb "$PORT" "$IP_US" plumb@test --from user@spf.test
authed plumb && ok "SMTP AUTH PLAIN against the test sasldb after XCLIENT" || bad "AUTH failed: $(reply plumb)"
accepted plumb
if f=$(delivered plumb); then
	grep -q "^Received: from client.test (localhost \[$IP_US\])" "$f" && ok "Postfix took the XCLIENT address" ||
		bad "Received field without $IP_US"
	grep -q 'spf=softfail' "$f" && ok "the milter saw the XCLIENT address (spf=softfail)" ||
		bad "the milter did not judge $IP_US: $(grep -A3 '^Authentication-Results' "$f")"
fi
send plumb-bad "$PORT" "$IP_US" plumb@test --auth-password wrong-password
[ "$(reply plumb-bad | cut -c1-3)" = 535 ] && ok "a wrong password is refused by SASL (535)" || bad "wrong password: $(reply plumb-bad)"

# --- 1. message limit through the milter ---------------------------------------
# LIMIT/1h on the account: 1..LIMIT delivered, LIMIT+1 gets reply_code 4.7.1;
# two recipients a message (one message each, whatever the recipients)
TWO=rcpt@example.net,rcpt2@example.net
for i in $(seq 1 $LIMIT); do
	send "limit-$i" "$PORT" "$IP_US" limit@test --to "$TWO"
	accepted "limit-$i"
done
n=$((LIMIT + 1))
send "limit-$n" "$PORT" "$IP_US" limit@test --to "$TWO"
refused "limit-$n" "$REPLY_CODE" 4.7.1 "rate limit exceeded: $LIMIT messages per 1 h for sasl:limit@test; retry in [0-9]+ (s|min)"
# the same account from another address: the limit is the account's
send limit-other-ip "$PORT" "$IP_GB1" limit@test
refused limit-other-ip "$REPLY_CODE" 4.7.1 "rate limit exceeded: $LIMIT messages per 1 h"
# another account is not affected
send limit-neighbour "$PORT" "$IP_US" deny@test
accepted limit-neighbour

# a group's own limit replaces the default: BULK_LIMIT, not LIMIT
for i in $(seq 1 $BULK_LIMIT); do
	send "bulk-$i" "$PORT" "$IP_US" bulk@test
	accepted "bulk-$i"
done
send "bulk-$((BULK_LIMIT + 1))" "$PORT" "$IP_US" bulk@test
refused "bulk-$((BULK_LIMIT + 1))" "$REPLY_CODE" 4.7.1 "rate limit exceeded: $BULK_LIMIT messages per 1 h for sasl:bulk@test"

# --- 2. denied country ------------------------------------------------------------
send deny-cn "$PORT" "$IP_CN" deny@test
refused deny-cn 554 5.7.1 'submission from country CN is not allowed'
send deny-se "$PORT" "$IP_SE" deny@test
accepted deny-se

# --- 3. unauthenticated mail is not the guard's ----------------------------------
# from the denied country and more messages than the account limit: all delivered
for i in $(seq 1 $((LIMIT + 1))); do
	send "unauth-$i" "$PORT" "$IP_CN" -
	accepted "unauth-$i"
done
# and the guard said nothing about them
touched=
for i in $(seq 1 $((LIMIT + 1))); do
	qid=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' "$T/swaks.unauth-$i")
	[ -n "$qid" ] && grep -q "$qid: submission" "$T/mamorid.log" && touched="$touched $qid"
done
[ -z "$touched" ] && ok "no submission log line for the unauthenticated messages" || bad "the guard logged about unauthenticated messages:$touched"

# --- 4. the message limit through the policy service ------------------------------
# no milter on this port: Postfix asks mamorid at RCPT time, once per
# recipient; two recipients a message, so a message must count once
for i in $(seq 1 $LIMIT); do
	send "policy-$i" "$POL_PORT" "$IP_US" policy@test --to "$TWO"
	accepted "policy-$i"
done
send "policy-$n" "$POL_PORT" "$IP_US" policy@test --to "$TWO"
refused "policy-$n" "$REPLY_CODE" 4.7.1 "rate limit exceeded: $LIMIT messages per 1 h for sasl:policy@test"
# both recipients refused at RCPT, no DATA: not half of the message delivered
[ "$(replies "policy-$n" | grep -c "^$REPLY_CODE 4.7.1 <rcpt2\?@example.net>: Recipient address rejected: rate limit exceeded")" = 2 ] &&
	! grep -q ' -> DATA' "$T/swaks.policy-$n" && ok "policy-$n: both recipients refused at RCPT" ||
	bad "policy-$n: expected both RCPTs refused and no DATA: $(replies "policy-$n" | tr '\n' '|')"
send policy-deny-cn "$POL_PORT" "$IP_CN" deny@test
refused policy-deny-cn 554 5.7.1 'submission from country CN is not allowed'
send policy-unauth "$POL_PORT" "$IP_CN" -
accepted policy-unauth
# the other place Postfix can ask: smtpd_end_of_data_restrictions, once per
# message after the data
for i in $(seq 1 $LIMIT); do
	send "eod-$i" "$EOD_PORT" "$IP_US" eod@test --to "$TWO"
	accepted "eod-$i"
done
send "eod-$n" "$EOD_PORT" "$IP_US" eod@test --to "$TWO"
refused "eod-$n" "$REPLY_CODE" 4.7.1 "rate limit exceeded: $LIMIT messages per 1 h for sasl:eod@test"
grep -q ' -> \.$' "$T/swaks.eod-$n" && [ "$(replies "eod-$n" | grep -c '^354 ')" = 1 ] &&
	ok "eod-$n refused after the data" || bad "eod-$n not refused at end of data"

# --- the refusals are in the account history ------------------------------------
# check_events ACCOUNT EVENT COUNT IP CC DETAIL-EREGEX: `mamori account show
# --json` has exactly COUNT events of that kind, the newest from IP in CC
# with a matching detail (mamorid writes them from a background thread)
check_events() {
	local acct=$1 ev=$2 count=$3 ip=$4 cc=$5 re=$6 j
	for _ in $(seq 1 50); do
		j=$(mamori account show "$acct" --json 2>"$T/show.err")
		echo "$j" | jq -e --arg ev "$ev" --argjson n "$count" '[.events[] | select(.event == $ev)] | length >= $n' \
			>/dev/null 2>&1 && break
		sleep 0.2
	done
	if echo "$j" | jq -e --arg ev "$ev" --argjson n "$count" --arg ip "$ip" --arg cc "$cc" --arg re "$re" '
		[.events[] | select(.event == $ev)] as $e | ($e | length) == $n and
		$e[0].client_ip == $ip and $e[0].country == $cc and $e[0].by == "mamorid" and ($e[0].detail | test($re))' >/dev/null; then
		ok "account show $acct: $count $ev event(s), newest from $ip ($cc)"
	else
		bad "account show $acct: expected $count $ev events, newest from $ip ($cc) /$re/: $j $(cat "$T/show.err")"
	fi
}
# limit-4 and limit-other-ip; deny-cn and policy-deny-cn
check_events limit@test limit 2 "$IP_GB1" GB "rate limit exceeded: $LIMIT messages per 1 h"
check_events deny@test deny 2 "$IP_CN" CN 'country CN'

# --- 5. an admin lock, kept across a restart --------------------------------------
send manual-before "$PORT" "$IP_US" manual@test
accepted manual-before
mamori account lock manual@test --reason "test: admin lock" >"$T/lock.out" 2>&1 &&
	ok "mamori account lock manual@test" || bad "mamori account lock: $(cat "$T/lock.out")"
# a running mamorid applies changes made by other processes within GUARD_POLL_MS
applied 'submission: account manual@test locked by cli:root: test: admin lock$'
send manual-locked "$PORT" "$IP_US" manual@test
refused manual-locked 554 5.7.1 'account locked'
check_locked manual@test cli:root 'test: admin lock'

# --- restart with configuration B ---------------------------------------------------
mamorid_stop
write_config B
mamorid_start
send manual-restart "$PORT" "$IP_US" manual@test
refused manual-restart 554 5.7.1 'account locked'
mamori account unlock manual@test >"$T/unlock.out" 2>&1 && ok "mamori account unlock manual@test" ||
	bad "mamori account unlock: $(cat "$T/unlock.out")"
applied 'submission: account manual@test unlocked by cli:root$'
send manual-unlocked "$PORT" "$IP_US" manual@test
accepted manual-unlocked
check_unlocked manual@test

# --- 6. too many client addresses lock the account ---------------------------------
# LOCK_IPS addresses are fine; one more (same country) locks the account and
# that message is refused; so is the next one, from a known address, and on
# the policy port too; unlock restores it
send iplock-1 "$PORT" "$IP_GB1" iplock@test
accepted iplock-1
send iplock-2 "$PORT" "$IP_GB2" iplock@test
accepted iplock-2
send iplock-3 "$PORT" "$IP_GB3" iplock@test
refused iplock-3 554 5.7.1 'account locked'
send iplock-next "$PORT" "$IP_GB1" iplock@test
refused iplock-next 554 5.7.1 'account locked'
send iplock-policy "$POL_PORT" "$IP_GB1" iplock@test
refused iplock-policy 554 5.7.1 'account locked'
# the lock is in the store, as the CLI shows it
check_locked iplock@test mamorid "^3 distinct source IPs within 3600 s \\(limit $LOCK_IPS\\)" "$IP_GB3" GB
mamori account unlock iplock@test >"$T/unlock.out" 2>&1 && ok "mamori account unlock iplock@test" ||
	bad "mamori account unlock: $(cat "$T/unlock.out")"
check_unlocked iplock@test
applied 'submission: account iplock@test unlocked by cli:root$'
send iplock-unlocked "$PORT" "$IP_GB1" iplock@test
accepted iplock-unlocked

# --- 7. too many countries lock the account ----------------------------------------
# LOCK_COUNTRIES is 1: GB then SE (two addresses, within LOCK_IPS)
send cclock-1 "$PORT" "$IP_GB1" cclock@test
accepted cclock-1
send cclock-2 "$PORT" "$IP_SE" cclock@test
refused cclock-2 554 5.7.1 'account locked'
send cclock-next "$PORT" "$IP_GB1" cclock@test
refused cclock-next 554 5.7.1 'account locked'
check_locked cclock@test mamorid "^2 countries within 3600 s \\(limit $LOCK_COUNTRIES\\)" "$IP_SE" SE
mamori account unlock cclock@test >"$T/unlock.out" 2>&1 && ok "mamori account unlock cclock@test" ||
	bad "mamori account unlock: $(cat "$T/unlock.out")"
check_unlocked cclock@test
applied 'submission: account cclock@test unlocked by cli:root$'
send cclock-unlocked "$PORT" "$IP_GB1" cclock@test
accepted cclock-unlocked

# --- 8. the record --------------------------------------------------------------------
# the administrator was told about each automatic lock by mail, once
for pair in "iplock@test 3 distinct source IPs within 3600 s \\(limit $LOCK_IPS\\)" \
	"cclock@test 2 countries within 3600 s \\(limit $LOCK_COUNTRIES\\)"; do
	a=${pair%% *}
	why=${pair#* }
	files=
	for _ in $(seq 1 300); do
		files=$(grep -l "^Subject: \[mamori\] submission account $a locked" "$MAIL"/box/new/* 2>/dev/null)
		[ -n "$files" ] && break
		sleep 0.1
	done
	if [ "$(echo "$files" | grep -c .)" = 1 ] && grep -q '^To: <admin@example.net>' "$files" &&
		grep -q '^From: <mamori@mx.test>' "$files" && grep -Eq "^Reason: +$why" "$files"; then
		ok "lock of $a notified to admin@example.net: $(grep '^Reason:' "$files")"
	else
		bad "notification about $a: expected one mail to admin@example.net with Reason /$why/, got ${files:-none}"
		[ -n "$files" ] && sed 's/^/    /' $files
	fi
done
# every lock is logged (the unlocks were, see applied above)
for a in iplock@test cclock@test; do
	grep -Eq "warning: [0-9A-F]+: submission: account $a locked automatically: " "$T/mamorid.log" &&
		ok "automatic lock of $a logged by mamorid" || bad "no lock line for $a in the mamorid log"
done

all_delivered
mamorid_stop
if grep -Eq 'ERROR: AddressSanitizer|runtime error:' "$T/mamorid.log"; then
	bad "sanitizer report in the mamorid log"
fi
if [ "$FAIL" -ne 0 ]; then
	echo "--- mamorid log"; tail -60 "$T/mamorid.log"
	echo "--- postfix log"; tail -40 "$PF/maillog" 2>/dev/null
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
