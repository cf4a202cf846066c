#!/usr/bin/env bash
# End-to-end cases for `mamori check`: a zone file and messages in, the
# Authentication-Results, JSON fields and exit status out. Keys are made
# fresh for each run and messages are signed with `mamori dkim sign`.
set -u
mamori=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect() { # name actual expected
	if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.pem" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$work/ed.pem" 2>/dev/null
rsa_p=$(openssl pkey -in "$work/rsa.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
# RFC 8463: the raw 32-byte public key, i.e. the last 32 bytes of the DER SPKI
ed_p=$(openssl pkey -in "$work/ed.pem" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)

cat > "$work/zone" <<ZONE
\$ORIGIN test.
\$TTL 300
example         TXT "v=spf1 ip4:192.0.2.0/24 -all"
example         MX 10 mx.example.test.
mx.example      A 192.0.2.25
_dmarc.example  TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example.test"
s1._domainkey.example TXT ( "v=DKIM1; k=rsa; "
                            "p=${rsa_p:0:200}" "${rsa_p:200}" )
ed._domainkey.example TXT "v=DKIM1; k=ed25519; p=$ed_p"
mail.example    A 192.0.2.10
mail.example    TXT "v=spf1 a -all"
testing         TXT "v=spf1 -all"
_dmarc.testing  TXT "v=DMARC1; p=reject; t=y"
timeout         TIMEOUT
nodmarc         TXT "v=spf1 +all"
ZONE

msg() { # from subject
	printf 'From: Alice <alice@%s>\r\nTo: bob@example.net\r\nSubject: %s\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.test>\r\n\r\nHello Bob,\r\nthe report is attached.\r\n' "$1" "$2" "$RANDOM"
}

check() { # file ip helo mailfrom -> json in $work/out.json, status in $rc
	"$mamori" check "$1" --zone "$work/zone" --ip "$2" --helo "$3" --mail-from "$4" --json >"$work/out.json" 2>"$work/err"
	rc=$?
}
j() { jq -r "$1" "$work/out.json"; }

# 1. aligned SPF and DKIM (rsa) pass
msg example.test "quarterly report" > "$work/m1.eml"
"$mamori" dkim sign --key "$work/rsa.pem" --domain example.test --selector s1 "$work/m1.eml" > "$work/m1s.eml" || bad "dkim sign rsa"
check "$work/m1s.eml" 192.0.2.1 mail.example.test alice@example.test
expect "pass: exit" "$rc" 0
expect "pass: spf" "$(j .spf.result)" pass
expect "pass: dkim" "$(j '.dkim[0].result')" pass
expect "pass: dkim bits" "$(j '.dkim[0].key_bits')" 2048
expect "pass: dmarc" "$(j .dmarc.result)" pass
expect "pass: dmarc spf aligned" "$(j .dmarc.spf_aligned)" true
expect "pass: dmarc dkim aligned" "$(j .dmarc.dkim_aligned)" true
expect "pass: policy" "$(j .dmarc.policy)" reject
ar=$("$mamori" check "$work/m1s.eml" --zone "$work/zone" --ip 192.0.2.1 --helo mail.example.test --mail-from alice@example.test)
case "$ar" in
Authentication-Results:\ *spf=pass*dkim=pass*header.d=example.test*dmarc=pass*header.from=example.test*) ok ;;
*) bad "AR header: $ar" ;;
esac

# 2. ed25519 signature, SPF fails: DMARC passes on DKIM alone
msg example.test "ed25519" > "$work/m2.eml"
"$mamori" dkim sign --key "$work/ed.pem" --domain example.test --selector ed "$work/m2.eml" > "$work/m2s.eml" || bad "dkim sign ed25519"
check "$work/m2s.eml" 203.0.113.9 evil.example alice@example.test
expect "ed25519: spf" "$(j .spf.result)" fail
expect "ed25519: dkim" "$(j '.dkim[0].result')" pass
expect "ed25519: algorithm" "$(j '.dkim[0].algorithm')" ed25519-sha256
expect "ed25519: dmarc" "$(j .dmarc.result)" pass
expect "ed25519: exit" "$rc" 0

# 3. body changed after signing: DKIM fails with a reason, SPF fails -> DMARC reject
sed 's/Hello Bob/Hello Eve/' "$work/m1s.eml" > "$work/m3.eml"
check "$work/m3.eml" 203.0.113.9 evil.example alice@example.test
expect "tampered: dkim" "$(j '.dkim[0].result')" fail
case "$(j '.dkim[0].reason')" in *body*) ok ;; *) bad "tampered: reason $(j '.dkim[0].reason')" ;; esac
expect "tampered: dmarc" "$(j .dmarc.result)" fail
expect "tampered: disposition" "$(j .dmarc.disposition)" reject
expect "tampered: exit" "$rc" 1

# 4. subdomain spoof: sp=quarantine applies
msg news.example.test "sub" > "$work/m4.eml"
check "$work/m4.eml" 203.0.113.9 evil.example bounce@evil.example
expect "subdomain: dmarc" "$(j .dmarc.result)" fail
expect "subdomain: disposition" "$(j .dmarc.disposition)" quarantine

# 5. null reverse-path: SPF checks the HELO identity
check "$work/m1s.eml" 192.0.2.10 mail.example.test ''
expect "null path: identity" "$(j .spf.identity)" helo
expect "null path: spf" "$(j .spf.result)" pass

# 6. t=y: fail, and the policy is applied one level lower (reject -> quarantine)
msg testing.test "t" > "$work/m6.eml"
check "$work/m6.eml" 203.0.113.9 evil.example x@testing.test
expect "testing: dmarc" "$(j .dmarc.result)" fail
expect "testing: t=y" "$(j .dmarc.testing)" true
expect "testing: disposition (RFC 9989 4.7: one level down)" "$(j .dmarc.disposition)" quarantine
expect "testing: exit" "$rc" 1

# 7. DNS timeout: temperror and exit status 2, never a pass
msg timeout.test "timeout" > "$work/m7.eml"
check "$work/m7.eml" 192.0.2.1 mail.example.test x@timeout.test
expect "timeout: spf" "$(j .spf.result)" temperror
expect "timeout: tempfail" "$(j .tempfail)" true
expect "timeout: exit" "$rc" 2

# 8. a domain without DMARC record
msg nodmarc.test "none" > "$work/m8.eml"
check "$work/m8.eml" 203.0.113.9 evil.example x@nodmarc.test
expect "no record: dmarc" "$(j .dmarc.result)" none
expect "no record: exit" "$rc" 0

# 9. a broken zone file is a configuration error naming file and line
printf 'ok.test. A 192.0.2.1\nbad.test. A 999.1.1.1\n' > "$work/bad.zone"
"$mamori" check "$work/m1s.eml" --zone "$work/bad.zone" --ip 192.0.2.1 >/dev/null 2>"$work/err"
expect "bad zone: exit" "$?" 78
grep -q "bad.zone:2" "$work/err" && ok || bad "bad zone: error names line: $(cat "$work/err")"

# 10. usage errors
"$mamori" check "$work/m1s.eml" --ip not-an-ip >/dev/null 2>&1
expect "bad ip: exit" "$?" 64
"$mamori" check --help | grep -q -- "--mail-from" && ok || bad "check --help"

echo "check-cases: $pass passed, $fail failed"
[ $fail -eq 0 ]
