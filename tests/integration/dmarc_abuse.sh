#!/bin/bash
# dmarc_abuse.sh: `mamori dmarc abuse` end to end, all on loopback.
#
#   - an HTTPS RDAP server (abuse/rdap_server.py, Debian's python3 with ssl,
#     a throw-away CA and server certificate made here with openssl) serving
#     the bootstrap files and recorded answers of tests/data/rdap/;
#   - an SMTP sink (abuse/smtp_sink.py: a small asyncio server, since
#     python3.11 has no smtpd) storing each message with its envelope;
#   - aggregate reports with known failing sources, imported with
#     `mamori dmarc import` (or, until that exists, seeded via abuse_tool);
#   - then dry run, real run, repeated run, and checks on what arrived.
#
# usage: dmarc_abuse.sh MAMORI|- ABUSE_TOOL RDAP_DATA_DIR HELPER_DIR
set -u
MAMORI=$1 TOOL=$2 DATA=$3 HELPERS=$4
PY=/usr/bin/python3
command -v openssl >/dev/null && [ -x $PY ] || { echo "SKIP: needs openssl and $PY"; exit 77; }

W=$(mktemp -d /tmp/mamori-abuse.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT

FAILS=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
check_not() { local what=$1; shift; if "$@"; then bad "$what"; else ok "$what"; fi; }

# ---- which front end: mamori dmarc ... if built, else the helper ----
if [ "$MAMORI" != "-" ] && "$MAMORI" dmarc abuse --help >/dev/null 2>&1; then
	run_abuse() { "$MAMORI" -c "$W/mamori.conf" dmarc abuse "$@"; }
	echo "# using: mamori dmarc abuse"
else
	run_abuse() { "$TOOL" abuse -c "$W/mamori.conf" "$@"; }
	echo "# using: abuse_tool abuse (mamori dmarc dispatcher not built)"
fi
if [ "$MAMORI" != "-" ] && "$MAMORI" dmarc import --help >/dev/null 2>&1; then
	HAVE_IMPORT=1
else
	HAVE_IMPORT=0
fi

# ---- certificates: a CA and a server certificate for 127.0.0.1 ----
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mamori test CA" \
	-keyout "$W/ca.key" -out "$W/ca.pem" -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || { bad "make CA"; exit 1; }
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$W/srv.key" -out "$W/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$W/ext"
openssl x509 -req -in "$W/srv.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial -days 2 \
	-extfile "$W/ext" -out "$W/srv.pem" 2>/dev/null || { bad "make server cert"; exit 1; }

# ---- servers ----
mkdir -p "$W/mail" "$W/dry"
: >"$W/rdap.log"
$PY "$HELPERS/rdap_server.py" "$W/rdap.port" "$W/srv.pem" "$W/srv.key" "$DATA" "$W/rdap.log" 2>"$W/rdap.err" &
PIDS+=($!)
$PY "$HELPERS/smtp_sink.py" "$W/smtp.port" "$W/mail" 2>"$W/smtp.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$W/rdap.port" ] && [ -s "$W/smtp.port" ] && break; sleep 0.1; done
[ -s "$W/rdap.port" ] && [ -s "$W/smtp.port" ] || { bad "servers did not start"; cat "$W"/*.err; exit 1; }
RPORT=$(cat "$W/rdap.port") SPORT=$(cat "$W/smtp.port")
echo "# RDAP https://127.0.0.1:$RPORT/  SMTP 127.0.0.1:$SPORT"

# ---- DNS (stub): the domain's SPF authorises 192.0.2.20; one PTR ----
cat >"$W/zone" <<'EOF'
$ORIGIN example.com.
$TTL 3600
@       TXT  "v=spf1 ip4:192.0.2.20 -all"
$ORIGIN 2.0.192.in-addr.arpa.
77      PTR  vps-77.hosting.example.nl.
EOF

cat >"$W/mamori.conf" <<EOF
general: { data_dir = "$W/var"; };
dns: { resolver = "stub"; zone_file = "$W/zone"; };
store: { path = "$W/mamori.db"; };
reports: { known_senders = [ "192.0.2.10/32" ]; };
abuse: {
  min_messages = 10;
  period_days = 7;
  from = "dmarc-abuse@example.com";
  smtp_url = "smtp://127.0.0.1:$SPORT";
  rdap_bootstrap = "https://127.0.0.1:$RPORT/bootstrap/";
  cainfo = "$W/ca.pem";
  rdap_cache_days = 7;
  overrides = (
    { network = "198.51.100.128/25"; contact = "override-desk@example.org"; },
    { network = "203.0.113.192/26"; contact = ""; }
  );
};
EOF
mkdir -p "$W/var"

# ---- the data: one report per (reporter, source) ----
NOW=$(date +%s)
B=$((NOW - 5 * 86400)) E=$((NOW - 4 * 86400))
# org|report_id|domain|ip|count|dkim|spf|begin|end
SPECS=(
	"google.com|g-1|example.com|192.0.2.77|80|fail|fail|$B|$E"        # RIPE, nested abuse entity
	"Yahoo|y-1|example.com|192.0.2.77|40|fail|fail|$B|$E"
	"google.com|g-2|example.com|198.51.100.23|50|fail|fail|$B|$E"     # ARIN, top-level abuse entity
	"google.com|g-3|example.com|203.0.113.9|25|fail|fail|$B|$E"       # ARIN redirects to APNIC, remarks
	"google.com|g-4|example.com|2001:db8::25|15|fail|fail|$B|$E"      # IPv6, RIPE
	"google.com|g-5|example.com|198.51.100.200|30|fail|fail|$B|$E"    # override contact
	"google.com|g-6|example.com|203.0.113.200|30|fail|fail|$B|$E"     # override: never report
	"google.com|g-7|example.com|192.0.2.150|30|fail|fail|$B|$E"       # RDAP: no abuse contact
	"google.com|g-8|example.com|192.0.2.10|500|fail|fail|$B|$E"       # known sender
	"google.com|g-9|example.com|192.0.2.20|500|fail|fail|$B|$E"       # in the domain's SPF
	"google.com|g-10|example.com|192.0.2.30|3|fail|fail|$B|$E"        # below the threshold
	"google.com|g-11|example.com|192.0.2.40|900|pass|fail|$B|$E"      # DKIM aligned: not failing
)
if [ $HAVE_IMPORT = 1 ]; then
	echo "# importing with mamori dmarc import"
	mkdir -p "$W/reports"
	for s in "${SPECS[@]}"; do
		IFS='|' read -r org rid dom ip cnt dkim spf b e <<<"$s"
		cat >"$W/reports/$rid.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata><org_name>$org</org_name><email>noreply-dmarc@$org</email>
    <report_id>$rid</report_id><date_range><begin>$b</begin><end>$e</end></date_range></report_metadata>
  <policy_published><domain>$dom</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><sp>reject</sp><pct>100</pct></policy_published>
  <record>
    <row><source_ip>$ip</source_ip><count>$cnt</count>
      <policy_evaluated><disposition>reject</disposition><dkim>$dkim</dkim><spf>$spf</spf></policy_evaluated></row>
    <identifiers><header_from>$dom</header_from></identifiers>
    <auth_results><spf><domain>$dom</domain><result>fail</result></spf></auth_results>
  </record>
</feedback>
EOF
	done
	"$MAMORI" -c "$W/mamori.conf" dmarc import "$W/reports" >"$W/import.out" 2>&1
	check "import the crafted reports" [ $? = 0 ]
else
	echo "# seeding the store with abuse_tool (mamori dmarc import not built)"
	"$TOOL" seed -c "$W/mamori.conf" "${SPECS[@]}"
	check "seed the store" [ $? = 0 ]
fi

count_mail() { ls "$W/mail" | grep -c '\.eml$'; }

# ---- 1. dry run: files, nothing sent ----
run_abuse --dry-run "$W/dry" >"$W/dry.out" 2>&1
rc=$?
cat "$W/dry.out"
check "dry run exits 0" [ $rc = 0 ]
check "dry run wrote 5 files" [ "$(ls "$W/dry" | grep -c '\.eml$')" = 5 ]
check "dry run sent nothing" [ "$(count_mail)" = 0 ]
check "dry-run file named <n>-<ip>.eml" [ -n "$(ls "$W/dry" | grep -E '^[0-9]+-192\.0\.2\.77\.eml$')" ]
check "dry-run v6 file name has no colon" [ -n "$(ls "$W/dry" | grep -E '^[0-9]+-2001_db8__25\.eml$')" ]
F=$(ls "$W/dry"/*-198.51.100.23.eml 2>/dev/null | head -1)
check "dry-run message addressed to the ARIN abuse entity" \
	grep -q '^To: <abuse-reports@bulkmail-cloud.example.com>' "$F"

# ---- 2. the real run ----
: >"$W/rdap.log.run2"
run_abuse >"$W/run.out" 2>&1
rc=$?
cat "$W/run.out"
check "run exits 0" [ $rc = 0 ]
check "5 messages arrived" [ "$(count_mail)" = 5 ]

# recipient -> source IP, from the envelopes and the messages
declare -A WANT=(
	["abuse@hosting.example.nl"]="192.0.2.77"
	["abuse-reports@bulkmail-cloud.example.com"]="198.51.100.23"
	["abuse@pacific-vps.example.net"]="203.0.113.9"
	["abuse@v6hosting.example.de"]="2001:db8::25"
	["override-desk@example.org"]="198.51.100.200"
)
declare -A COUNT=(
	["192.0.2.77"]=120 ["198.51.100.23"]=50 ["203.0.113.9"]=25 ["2001:db8::25"]=15 ["198.51.100.200"]=30
)
for rcpt in "${!WANT[@]}"; do
	ip=${WANT[$rcpt]}
	# the RIPE jCard has "Abuse@Hosting.Example.NL": the domain is lower-cased, the local part kept
	env=$(grep -il "^RCPT TO:<$rcpt>" "$W"/mail/*.env | head -1)
	if [ -z "$env" ]; then bad "a message for $rcpt"; continue; fi
	ok "a message for $rcpt"
	m=${env%.env}.eml
	check "$rcpt: envelope sender" grep -q '^MAIL FROM:<dmarc-abuse@example.com>' "$env"
	check "$rcpt: one recipient" [ "$(grep -c '^RCPT TO:' "$env")" = 1 ]
	check "$rcpt: Feedback-Type auth-failure" grep -q $'^Feedback-Type: auth-failure\r$' "$m"
	check "$rcpt: Auth-Failure dmarc" grep -q $'^Auth-Failure: dmarc\r$' "$m"
	check "$rcpt: Source-IP $ip" grep -q "^Source-IP: $ip"$'\r$' "$m"
	check "$rcpt: Reported-Domain" grep -q $'^Reported-Domain: example.com\r$' "$m"
	check "$rcpt: Incidents ${COUNT[$ip]}" grep -q "^Incidents: ${COUNT[$ip]}"$'\r$' "$m"
	check "$rcpt: summary count" grep -q "^Failing SPF+DKIM:   ${COUNT[$ip]}"$'\r$' "$m"
	check "$rcpt: multipart/report" grep -q 'multipart/report; report-type=feedback-report' "$m"
	check "$rcpt: subject" grep -q "^Subject: Abuse report: DMARC authentication failures for example.com" "$m"
done
m=$(grep -il '^RCPT TO:<abuse@hosting.example.nl>' "$W"/mail/*.env | head -1)
m=${m%.env}.eml
check "reverse DNS in the summary" grep -q '^Reverse DNS:        vps-77.hosting.example.nl' "$m"
check "both reporters named" grep -q '^Reported by: .*google.com' "$m"
check "Yahoo named too" grep -q '^Reported by: .*Yahoo' "$m"
check "reconstructed headers say so" grep -q '^X-Mamori-Reconstructed: yes' "$m"
check_not "a known sender is never reported" grep -rq '192.0.2.10\b' "$W/mail" "$W/dry"
check_not "an SPF-authorised source is never reported" grep -rq 'Source-IP: 192.0.2.20' "$W/mail" "$W/dry"
check_not "an 'never report' override is honoured" grep -rq 'Source-IP: 203.0.113.200' "$W/mail" "$W/dry"
check "a network without abuse contact is skipped" grep -q '192.0.2.150 .*no abuse contact' "$W/run.out"
check_not "below-threshold source not considered" grep -q '192.0.2.30 ' "$W/run.out"
check_not "DKIM-aligned source not considered" grep -q '192.0.2.40 ' "$W/run.out"
check "RDAP followed the ARIN->APNIC redirect" grep -q '^/apnic/ip/203.0.113.9$' "$W/rdap.log"
check_not "override network never asked of RDAP" grep -q '198.51.100.200' "$W/rdap.log"

# ---- 3. again: the period holds everything back, the cache answers ----
lines_before=$(wc -l <"$W/rdap.log")
run_abuse >"$W/run3.out" 2>&1
rc=$?
cat "$W/run3.out"
check "second run exits 0" [ $rc = 0 ]
check "second run sends nothing" [ "$(count_mail)" = 5 ]
check "second run: 5 within the period" grep -q '5 within the period' "$W/run3.out"
check "second run asks RDAP nothing (cache)" [ "$(wc -l <"$W/rdap.log")" = "$lines_before" ]

# ---- 4. a dry run after sending writes nothing new (period) ----
rm -f "$W/dry"/*
run_abuse --dry-run "$W/dry" >/dev/null 2>&1
check "dry run within the period writes nothing" [ "$(ls "$W/dry" | wc -l)" = 0 ]

# ---- 5. a failing relay: exit 1, logged as failed, retried next time ----
sed -i "s|smtp_url = .*|smtp_url = \"smtp://127.0.0.1:1\";|; s|period_days = 7|period_days = 1|" "$W/mamori.conf"
sed -i 's|override-desk@example.org|other-desk@example.org|' "$W/mamori.conf"
run_abuse >"$W/run5.out" 2>&1
rc=$?
check "unreachable relay: exit 1" [ $rc = 1 ]
check "unreachable relay: reported as failed" grep -q 'failed (other-desk@example.org)' "$W/run5.out"

# ---- 6. usage errors ----
run_abuse --since yesterday >/dev/null 2>&1
check "bad --since is a usage error" [ $? = 64 ]
run_abuse --min 0 >/dev/null 2>&1
check "bad --min is a usage error" [ $? = 64 ]

echo "# $FAILS failure(s)"
[ $FAILS = 0 ]
