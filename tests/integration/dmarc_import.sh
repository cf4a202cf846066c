#!/bin/bash
# dmarc_import: `mamori dmarc import/errors/summary/sources` end to end.
#   usage: dmarc_import.sh MAMORI CORPUS_DIR TESTDATA_DIR
# Imports the whole shared report corpus into a temporary store, checks the
# exact summary line, that every error is a genuinely broken (or non-report)
# file, that a second import changes nothing, summary totals against sums
# computed independently (python) from the files, the --failing ranking on a
# crafted report set (known senders and SPF-authorised IPs excluded, a DNS
# failure marked "spf unknown"), and that hostile files and containers give
# errors without stopping the import of the rest.
set -u
MAMORI=$1
CORPUS=$2
TESTDATA=$3
T=$(mktemp -d /tmp/dmarc_import.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
expect_eq() { # what got want
	if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}

# the CLI entry point must know the command
if ! "$MAMORI" dmarc --help >/dev/null 2>&1; then
	echo "mamori has no dmarc command yet: skipped"
	exit 77
fi

cat >"$T/zone" <<'EOF'
$ORIGIN spoof.test.
@                   TXT "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:1::/48 -all"
$ORIGIN other.test.
@                   SERVFAIL
$ORIGIN 113.0.203.in-addr.arpa.
5                   PTR mail.bad.example.
EOF
mkconf() { # dir
	cat >"$1/m.conf" <<EOF
general: { data_dir = "$1/var"; };
dns: { resolver = "stub"; zone_file = "$T/zone"; };
reports: { known_senders = [ "192.0.2.0/24" ]; max_decompressed_bytes = 16777216; };
EOF
}
mkdir -p "$T/full" "$T/craft" "$T/hostile"
mkconf "$T/full"
mkconf "$T/craft"
mkconf "$T/hostile"

# ---- the whole corpus ----
C="$T/full/m.conf"
"$MAMORI" dmarc -c "$C" import "$CORPUS"/dmarc-reports-*/ >"$T/out1" 2>"$T/err1"
rc=$?
expect_eq "first import exit status (some items are broken)" "$rc" 1
expect_eq "first import summary" "$(sed 's/ in [0-9.]*s$//' "$T/out1")" \
	"imported 65 reports (3470 records, 214460 messages), 27 duplicates, 7 failure reports, 78 errors"

# every kept error is a non-report file or a known broken one, with its reason
"$MAMORI" dmarc -c "$C" errors --json >"$T/errors.json" || fail "errors --json"
python3 - "$T/errors.json" "$CORPUS" <<'EOF' || fail "error list"
import json, re, sys
errs = json.load(open(sys.argv[1]))
corpus = sys.argv[2].rstrip('/') + '/'
# (source suffix, reason substring): broken reports and mail without one
broken = [
    ("parsedmarc/smtp_tls/google.com_smtp_tls_report.eml:google.com!cardinalhealth.ca!1725321600!1725407999!001.json.gz", "SMTP TLS report"),
    ("parsedmarc/failure/exim_plain_text_only_no_arf_part.eml", "without a message/feedback-report part"),
    ("parsedmarc/empty.xml", "empty file"),
    ("parsedmarc/aggregate/invalid_xml.xml", "not well-formed"),
    ("parsedmarc/aggregate/invalid_utf_8.xml", "invalid UTF-8"),
    ("parsedmarc/aggregate/ikea.com!example.de!1538690400!1538776800.xml", "not a DMARC aggregate report"),
    ("yahoo.com!ngyn.org!1436017600!1436103999.xml", "policy_published/domain: missing"),
    ("amazonses.com!ngyn.org!1622937600!1623024000.xml.gz", "not a DMARC report"),
    ("mail-dmarc/share/rua-schema.xsd", "not a DMARC aggregate report"),
    ("mail-auth/arf/001.eml", "type 'abuse'"),
    ("mail-auth/arf/002.eml", "type 'abuse'"),
    ("dmarc_report_reader/tests/fixtures/non-dmarc.xml", "not a DMARC aggregate report"),
    ("dmarc_report_reader/tests/fixtures/malformed.xml", "mismatched tag"),
    ("dmarc-report-converter/pkg/dmarc/testdata/test_empty.xml", "row/source_ip: empty"),
    ("dmarc-parser/src/test/resources/test.zip:test.txt", "not XML"),
    ("dmarc-parser/src/test/resources/test.txt.eml", "no DMARC report found"),
    ("dmarc-parser/src/test/resources/test.none.eml", "no DMARC report found"),
    ("dmarc-parser/src/test/resources/test.gz", "not XML"),
    ("dmarc-cat/testdata/notempty.zip:notempty.txt", "not XML"),
    ("dmarc-cat/testdata/notempty.txt.gz", "not XML"),
    ("dmarc-cat/testdata/empty.txt", "empty file"),
    ("dmarc-cat/testdata/bad.zip:bad.xml", "empty member"),
    ("dmarc-cat/testdata/bad.xml", "empty file"),
    ("OpenDMARC/libopendmarc/tests/testfiles/bad.com!example.com!1337140800!1337227200.xml", "disposition: empty"),
]
nonreport = re.compile(r'/(LICENSE[^/]*|SOURCE\.md|README\.md|[^/]*\.txt|[^/]*\.json)$')
seen = set()
bad = 0
for e in errs:
    src = e['source']
    if not src.startswith(corpus):
        print("unexpected source", src); bad += 1; continue
    m = [b for b in broken if src.endswith(b[0])]
    if m:
        if m[0][1] not in e['reason']:
            print("wrong reason for", src, ":", e['reason']); bad += 1
        seen.add(m[0][0])
    elif nonreport.search(src) and 'not a DMARC report' in e['reason']:
        pass
    else:
        print("unexpected error", src, e['reason']); bad += 1
for b in broken:
    if b[0] not in seen:
        print("missing error for", b[0]); bad += 1
if len(errs) != 76:
    print("kept errors:", len(errs), "want 76"); bad += 1
sys.exit(1 if bad else 0)
EOF

"$MAMORI" dmarc -c "$C" summary --json >"$T/sum1.json" || fail "summary --json"
# ---- again: all duplicates, nothing changes ----
"$MAMORI" dmarc -c "$C" import "$CORPUS"/dmarc-reports-*/ >"$T/out2" 2>/dev/null
expect_eq "second import exit status" "$?" 1
expect_eq "second import summary" "$(sed 's/ in [0-9.]*s$//' "$T/out2")" \
	"imported 0 reports (0 records, 0 messages), 99 duplicates, 0 failure reports, 78 errors"
"$MAMORI" dmarc -c "$C" summary --json >"$T/sum2.json"
cmp -s "$T/sum1.json" "$T/sum2.json" && pass "summary unchanged by the second import" ||
	fail "summary changed by the second import"
expect_eq "kept errors unchanged" "$("$MAMORI" dmarc -c "$C" errors --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 76
"$MAMORI" dmarc -c "$C" errors | grep -q "mismatched tag" && pass "errors text lists reasons" ||
	fail "errors text"

# ---- summary totals for one domain against an independent computation ----
python3 - "$CORPUS/dmarc-reports-dmarcgo" georgestarcher.com >"$T/want.json" <<'EOF'
import gzip, io, json, os, sys, zipfile
import xml.etree.ElementTree as ET
root, domain = sys.argv[1], sys.argv[2]
def docs(path):
    data = open(path, 'rb').read()
    if data[:2] == b'\x1f\x8b':
        yield gzip.decompress(data)
    elif data[:2] == b'PK':
        z = zipfile.ZipFile(io.BytesIO(data))
        for n in z.namelist():
            yield z.read(n)
    else:
        yield data
def strip(t):
    return t.split('}')[-1]
def find(e, *names):
    for n in names:
        e = next((c for c in e if strip(c.tag) == n), None)
        if e is None:
            return None
    return e
def text(e, *names):
    x = find(e, *names)
    return (x.text or '').strip().lower() if x is not None else ''
seen = set()
tot = dict(reports=0, messages=0, dmarc_pass=0, spf=0, dkim=0, none=0, quarantine=0, reject=0)
for d, _, files in os.walk(root):
    for f in files:
        for doc in docs(os.path.join(d, f)):
            try:
                fb = ET.fromstring(doc)
            except Exception:
                continue
            if strip(fb.tag) != 'feedback' or text(fb, 'policy_published', 'domain') != domain:
                continue
            key = (text(fb, 'report_metadata', 'org_name'), text(fb, 'report_metadata', 'report_id'))
            if key in seen:
                continue
            seen.add(key)
            tot['reports'] += 1
            for rec in (c for c in fb if strip(c.tag) == 'record'):
                n = int(text(rec, 'row', 'count'))
                dk = text(rec, 'row', 'policy_evaluated', 'dkim') == 'pass'
                sp = text(rec, 'row', 'policy_evaluated', 'spf') == 'pass'
                tot['messages'] += n
                tot['dmarc_pass'] += n if dk or sp else 0
                tot['spf'] += n if sp else 0
                tot['dkim'] += n if dk else 0
                disp = text(rec, 'row', 'policy_evaluated', 'disposition')
                if disp in ('none', 'quarantine', 'reject'):
                    tot[disp] += n
print(json.dumps(tot, sort_keys=True))
EOF
"$MAMORI" dmarc -c "$C" summary --domain georgestarcher.com --json | python3 -c '
import json, sys
s = json.load(sys.stdin); t = s["totals"]
print(json.dumps(dict(reports=s["reports"], messages=t["messages"], dmarc_pass=t["dmarc_pass"],
    spf=t["spf_aligned_pass"], dkim=t["dkim_aligned_pass"], none=t["disposition"]["none"],
    quarantine=t["disposition"]["quarantine"], reject=t["disposition"]["reject"]), sort_keys=True))' >"$T/got.json"
expect_eq "summary --domain totals equal the files' sums ($(cat "$T/want.json"))" "$(cat "$T/got.json")" "$(cat "$T/want.json")"
grep -q '"reports": 0' "$T/want.json" && fail "no reports for the domain in the corpus"
"$MAMORI" dmarc -c "$C" summary --domain georgestarcher.com | grep -q "^DMARC pass" && pass "summary text" ||
	fail "summary text"

# ---- sources --failing on a crafted set ----
rep() { # file org id domain begin records...
	local f=$1 org=$2 id=$3 dom=$4 begin=$5
	shift 5
	{
		echo "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>$org</org_name>"
		echo "<email>r@$org</email><report_id>$id</report_id><date_range><begin>$begin</begin>"
		echo "<end>$((begin + 86399))</end></date_range></report_metadata><policy_published>"
		echo "<domain>$dom</domain><p>reject</p></policy_published>"
		for r in "$@"; do # ip:count:dkim:spf:disp (ip may hold ':' -> use '|')
			IFS='|' read -r ip n dk sp disp <<<"$r"
			echo "<record><row><source_ip>$ip</source_ip><count>$n</count><policy_evaluated>"
			echo "<disposition>$disp</disposition><dkim>$dk</dkim><spf>$sp</spf></policy_evaluated></row>"
			echo "<identifiers><header_from>$dom</header_from></identifiers><auth_results>"
			echo "<spf><domain>$dom</domain><result>$sp</result></spf></auth_results></record>"
		done
		echo "</feedback>"
	} >"$f"
}
mkdir -p "$T/craft/in"
rep "$T/craft/in/a.xml" rep-a.example A1 spoof.test 1767225600 \
	"192.0.2.10|50|fail|fail|reject" \
	"198.51.100.20|40|fail|fail|reject" \
	"203.0.113.5|30|fail|fail|reject" \
	"203.0.113.7|100|pass|pass|none" \
	"2001:db8::5|5|fail|fail|quarantine"
rep "$T/craft/in/b.xml" rep-b.example B1 spoof.test 1767312000 \
	"203.0.113.6|10|fail|fail|reject" \
	"2001:db8::5|15|fail|fail|reject" \
	"2001:db8:1::9|60|fail|fail|reject"
rep "$T/craft/in/c.xml" rep-b.example C1 other.test 1767312000 \
	"203.0.113.99|3|fail|fail|none"
C2="$T/craft/m.conf"
"$MAMORI" dmarc -c "$C2" import "$T/craft/in" >"$T/craft/out" 2>&1
expect_eq "crafted import" "$(sed 's/ in [0-9.]*s$//' "$T/craft/out")" \
	"imported 3 reports (9 records, 313 messages), 0 duplicates, 0 failure reports, 0 errors"
"$MAMORI" dmarc -c "$C2" sources --failing --json >"$T/craft/failing.json" || fail "sources --failing --json"
got=$(python3 -c '
import json, sys
for s in json.load(open(sys.argv[1])):
    print(s["ip"], s["domain"], s["fail_both"], s["reporters"], s["ptr"], s["spf_unknown"])' "$T/craft/failing.json")
want="203.0.113.5 spoof.test 30 1 mail.bad.example False
2001:db8::5 spoof.test 20 2 None False
203.0.113.6 spoof.test 10 1 None False
203.0.113.99 other.test 3 1 None True"
expect_eq "sources --failing ranking (known sender and SPF-authorised excluded)" "$got" "$want"
got=$("$MAMORI" dmarc -c "$C2" sources --failing --limit 1 --no-rdns --json | python3 -c '
import json, sys; l = json.load(sys.stdin); print(len(l), l[0]["ip"], l[0]["ptr"])')
expect_eq "sources --limit 1 --no-rdns" "$got" "1 203.0.113.5 None"
got=$("$MAMORI" dmarc -c "$C2" sources --domain spoof.test --json | python3 -c '
import json, sys; print(" ".join(s["ip"] + ":" + str(s["messages"]) for s in json.load(sys.stdin)))')
expect_eq "sources (all) for one domain" "$got" \
	"2001:db8:1::9:60 192.0.2.10:50 198.51.100.20:40 203.0.113.5:30 2001:db8::5:20 203.0.113.6:10 203.0.113.7:100"
"$MAMORI" dmarc -c "$C2" sources --failing | grep -q "spf unknown" && pass "sources text marks spf unknown" ||
	fail "sources text"
"$MAMORI" dmarc -c "$C2" summary --since 2026-01-02 --json | python3 -c '
import json, sys; s = json.load(sys.stdin); sys.exit(0 if s["reports"] == 2 and s["totals"]["messages"] == 88 else 1)' &&
	pass "summary --since a date" || fail "summary --since a date"

# ---- hostile files and containers do not stop the rest ----
C3="$T/hostile/m.conf"
"$MAMORI" dmarc -c "$C3" import "$TESTDATA/reports/hostile" "$TESTDATA/reports/containers" \
	"$T/craft/in/a.xml" >"$T/hostile/out" 2>"$T/hostile/err"
rc=$?
expect_eq "hostile import exit status" "$rc" 1
# accepted: script_org_name and many_records (hostile; zero_records has the
# same reporter, id and domain as many_records: a duplicate); the report
# after the zip bomb and the one in the nameless attachment (containers, the
# same report twice: one duplicate); a.xml
out=$(sed 's/ in [0-9.]*s$//' "$T/hostile/out")
case "$out" in
"imported 4 reports (28 records, 248 messages), 2 duplicates, 0 failure reports, "*" errors") pass "hostile import: the rest imported ($out)" ;;
*) fail "hostile import summary: $out" ;;
esac
nerr=$("$MAMORI" dmarc -c "$C3" errors --json | python3 -c '
import json, sys; print(len(json.load(sys.stdin)))')
hostile_refused=$(($(ls "$TESTDATA/reports/hostile"/*.xml | wc -l) - 3))
if [ "$nerr" -ge $((hostile_refused + 2)) ]; then pass "every refused file kept ($nerr errors)"; else
	fail "kept errors: $nerr, want at least $((hostile_refused + 2))"; fi
for f in billion_laughs external_entity truncated count_huge bad_ip invalid_utf8_org_name; do
	grep -q "$f.xml: aggregate report: " "$T/hostile/err" && pass "hostile $f refused with a reason" ||
		fail "hostile $f"
done
grep -q "gzip-bomb-64M.gz: " "$T/hostile/err" && pass "gzip bomb refused" || fail "gzip bomb"
"$MAMORI" dmarc -c "$C3" summary --json | grep -q '<script>' && pass "script org_name stored verbatim (escaped by JSON)" ||
	fail "script org_name"

# ---- fetch from a fake IMAP server on loopback ----
mkdir -p "$T/imap"
echo secret >"$T/imap/pw"
python3 "$(dirname "$0")/imap_fake.py" "$T/imap/port" "$T/imap/log" \
	"$TESTDATA/reports/containers/octet-stream-noname.eml" \
	"$CORPUS/dmarc-reports-parsedmarc/failure/exim_plain_text_only_no_arf_part.eml" &
imap_pid=$!
for _ in $(seq 50); do [ -s "$T/imap/port" ] && break; sleep 0.2; done
cat >"$T/imap/m.conf" <<EOF
general: { data_dir = "$T/imap/var"; };
reports: { imap_url = "imap://127.0.0.1:$(cat "$T/imap/port")/INBOX"; imap_user = "dmarc";
           imap_password_file = "$T/imap/pw"; imap_move_to = "DMARC done"; };
EOF
out=$("$MAMORI" dmarc -c "$T/imap/m.conf" fetch 2>/dev/null | sed 's/ in [0-9.]*s$//')
expect_eq "fetch: report imported, broken mail kept" "$out" \
	"imported 1 reports (2 records, 2 messages), 0 duplicates, 0 failure reports, 1 errors"
out=$("$MAMORI" dmarc -c "$T/imap/m.conf" fetch 2>/dev/null | sed 's/ in [0-9.]*s$//')
expect_eq "fetch again: nothing new" "$out" \
	"imported 0 reports (0 records, 0 messages), 0 duplicates, 0 failure reports, 0 errors"
kill $imap_pid 2>/dev/null
wait $imap_pid 2>/dev/null
grep -q '^UID MOVE 1 "DMARC done"$' "$T/imap/log" && pass "fetch moved the imported mail" || fail "fetch move"
grep -q '^UID MOVE 2 "DMARC done"$' "$T/imap/log" && pass "fetch moved the kept error" || fail "fetch move 2"
grep -q '^EXPUNGE' "$T/imap/log" && fail "EXPUNGE after MOVE" || pass "no EXPUNGE after MOVE"
grep -q 'secret' "$T/imap/log" && fail "password in the log" || pass "password masked"
"$MAMORI" dmarc -c "$T/imap/m.conf" errors | grep -q "imap:2" && pass "fetch error listed" || fail "fetch error"

# ---- usage ----
"$MAMORI" dmarc -c "$C" summary --since yesterday >/dev/null 2>&1
expect_eq "bad --since is a usage error" "$?" 64
"$MAMORI" dmarc -c "$C" import >/dev/null 2>&1
expect_eq "import without paths is a usage error" "$?" 64
for sub in import fetch errors summary sources; do
	"$MAMORI" dmarc $sub --help | grep -q "usage: mamori dmarc $sub" && pass "$sub --help" || fail "$sub --help"
done

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
