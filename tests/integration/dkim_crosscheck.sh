#!/bin/sh
# dkim_crosscheck: mamori's DKIM against an independent implementation,
# Debian's python3-dkim (dkimpy). Messages dkimpy signs must verify in mamori
# and messages mamori signs must verify in dkimpy, for rsa-sha256 and
# ed25519-sha256 and every canonicalisation; a tampered copy must fail in both.
# Keys are made fresh with openssl; DNS is a "name TXT-value" file fed to
# mamori's stub resolver and to dkimpy's dnsfunc.
#
# usage: dkim_crosscheck.sh path/to/dkim_tool
# exit 77 (skip) when /usr/bin/python3 has no dkim module.
set -u
TOOL=${1:?usage: dkim_crosscheck.sh path/to/dkim_tool}
PY=/usr/bin/python3

if ! $PY -c 'import dkim' 2>/dev/null; then
	echo "dkim-crosscheck: /usr/bin/python3 has no dkim module (python3-dkim); skipped"
	exit 77
fi
if ! $PY -c 'import nacl.signing' 2>/dev/null; then
	echo "dkim-crosscheck: python3-nacl missing, ed25519 cannot be checked"
	exit 1
fi

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# --- keys ---
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null |
	openssl rsa -traditional -out "$T/rsa.pem" 2>/dev/null || { echo "openssl failed"; exit 1; }
openssl genpkey -algorithm ED25519 -out "$T/ed.pem" 2>/dev/null || { echo "openssl failed"; exit 1; }
# dkimpy wants the ed25519 key as the base64 of the 32-byte seed
openssl pkey -in "$T/ed.pem" -outform DER | tail -c 32 | base64 > "$T/ed.seed"
rsa_pub=$(openssl pkey -in "$T/rsa.pem" -pubout -outform DER | base64 -w0)
ed_pub=$(openssl pkey -in "$T/ed.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
cat > "$T/keys" <<EOF
rsa._domainkey.example.org v=DKIM1; k=rsa; p=$rsa_pub
ed._domainkey.example.org v=DKIM1; k=ed25519; p=$ed_pub
EOF

# --- messages with canonicalisation traps ---
printf 'From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: plain\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello.\r\n' > "$T/m1"
printf 'From: Alice <alice@example.org>\r\nTo: bob@example.net,\r\n\t carol@example.net\r\nSubject:   folded   \r\n   subject\twith tabs  \r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nline with trailing spaces   \r\n\ttabbed\t line\r\n\r\n\r\n\r\n' > "$T/m2"
printf 'From: alice@example.org\r\nSubject: no final newline\r\n\r\nlast line without CRLF  ' > "$T/m3"
printf 'From: alice@example.org\r\nSubject: empty body\r\n\r\n' > "$T/m4"
printf 'From: alice@example.org\nSubject: LF only\nTo: x@example.net\n\nbody with LF\n\n' > "$T/m5"

cat > "$T/dk.py" <<'EOF'
import sys, dkim
mode = sys.argv[1]
keys = {}
for line in open(sys.argv[2], 'rb'):
    n, v = line.rstrip(b'\r\n').split(b' ', 1)
    keys[n + b'.'] = v
def dnsfunc(name, timeout=5):
    return keys.get(name)
msg = sys.stdin.buffer.read()
if mode == 'sign':
    sel, dom, keyfile, hc, bc, alg = sys.argv[3:9]
    key = open(keyfile, 'rb').read()
    sig = dkim.sign(msg, sel.encode(), dom.encode(), key, canonicalize=(hc.encode(), bc.encode()),
                    signature_algorithm=alg.encode())
    sys.stdout.buffer.write(sig + msg)
else:
    sys.exit(0 if dkim.verify(msg, dnsfunc=dnsfunc) else 1)
EOF

for m in m1 m2 m3 m4 m5; do
	for alg in rsa ed; do
		if [ $alg = rsa ]; then a=rsa-sha256; key=$T/rsa.pem; pykey=$T/rsa.pem
		else a=ed25519-sha256; key=$T/ed.pem; pykey=$T/ed.seed; fi
		for c in simple/simple relaxed/relaxed relaxed/simple simple/relaxed; do
			hc=${c%/*}; bc=${c#*/}
			name="$m $a $c"
			# dkimpy signs, mamori verifies
			if $PY "$T/dk.py" sign "$T/keys" $alg example.org "$pykey" $hc $bc $a < "$T/$m" > "$T/py.eml" 2>"$T/err"; then
				if out=$("$TOOL" verify --keys "$T/keys" < "$T/py.eml"); then
					ok "dkimpy->mamori $name"
				else
					bad "dkimpy->mamori $name: $out"
				fi
				# tamper: one more body line must fail in mamori
				printf 'tampered\r\n' >> "$T/py.eml"
				if out=$("$TOOL" verify --keys "$T/keys" < "$T/py.eml"); then
					bad "dkimpy->mamori tampered $name: passed"
				else
					case $out in
					*"body hash did not verify"*) ok "dkimpy->mamori tampered $name fails" ;;
					*) bad "dkimpy->mamori tampered $name: $out" ;;
					esac
				fi
			else
				bad "dkimpy sign $name: $(cat "$T/err")"
			fi
			# mamori signs, dkimpy verifies
			if "$TOOL" sign --key "$key" --domain example.org --selector $alg --canon $c < "$T/$m" > "$T/mm.eml" 2>"$T/err"; then
				if $PY "$T/dk.py" verify "$T/keys" < "$T/mm.eml" 2>"$T/err"; then
					ok "mamori->dkimpy $name"
				else
					bad "mamori->dkimpy $name: $(cat "$T/err")"
				fi
				# tamper: change the subject; dkimpy must reject
				sed 's/^Subject:/Subject: x/' "$T/mm.eml" > "$T/mm2.eml"
				if $PY "$T/dk.py" verify "$T/keys" < "$T/mm2.eml" 2>/dev/null; then
					bad "mamori->dkimpy tampered $name: passed"
				else
					ok "mamori->dkimpy tampered $name fails"
				fi
			else
				bad "mamori sign $name: $(cat "$T/err")"
			fi
		done
	done
done

echo "dkim-crosscheck: $pass passed, $fail failed"
[ $fail -eq 0 ]
