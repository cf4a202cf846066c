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

T=$(mktemp -d) || exit 1
[ -d "$T" ] || exit 1
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
printf 'rsa._domainkey.example.org v=DKIM1; k=rsa; p=%s\n' "$rsa_pub" > "$T/keys"
printf 'ed._domainkey.example.org v=DKIM1; k=ed25519; p=%s\n' "$ed_pub" >> "$T/keys"

# --- messages with canonicalisation traps ---
printf 'From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: plain\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello.\r\n' > "$T/m1"
printf 'From: Alice <alice@example.org>\r\nTo: bob@example.net,\r\n\t carol@example.net\r\nSubject:   folded   \r\n   subject\twith tabs  \r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nline with trailing spaces   \r\n\ttabbed\t line\r\n\r\n\r\n\r\n' > "$T/m2"
printf 'From: alice@example.org\r\nSubject: no final newline\r\n\r\nlast line without CRLF  ' > "$T/m3"
printf 'From: alice@example.org\r\nSubject: empty body\r\n\r\n' > "$T/m4"
printf 'From: alice@example.org\nSubject: LF only\nTo: x@example.net\n\nbody with LF\n\n' > "$T/m5"

# One python process signs everything and one verifies everything (python
# start-up would dominate otherwise). Jobs: sign:IN:OUT:SEL:KEYFILE:HC:BC:ALG
# or verify:FILE; one output line per job: "signed OUT", "pass FILE",
# "fail FILE" or "error FILE reason".
cat > "$T/dk.py" <<'PYEOF'
import sys, dkim
keys = {}
for line in open(sys.argv[1], 'rb'):
    n, v = line.rstrip(b'\r\n').split(b' ', 1)
    keys[n + b'.'] = v
def dnsfunc(name, timeout=5):
    return keys.get(name)
for job in sys.argv[2:]:
    f = job.split(':')
    target = f[2] if f[0] == 'sign' else f[1]
    try:
        if f[0] == 'sign':
            msg = open(f[1], 'rb').read()
            sig = dkim.sign(msg, f[3].encode(), b'example.org', open(f[4], 'rb').read(),
                            canonicalize=(f[5].encode(), f[6].encode()), signature_algorithm=f[7].encode())
            open(f[2], 'wb').write(sig + msg)
            print('signed', target)
        else:
            ok = dkim.verify(open(f[1], 'rb').read(), dnsfunc=dnsfunc)
            print('pass' if ok else 'fail', target)
    except Exception as e:
        print('error', target, repr(e).replace('\n', ' '))
PYEOF

CANONS="simple/simple relaxed/relaxed relaxed/simple simple/relaxed"
MSGS="m1 m2 m3 m4 m5"

# 1. dkimpy signs, mamori verifies (and rejects a tampered body)
jobs=""
for m in $MSGS; do
	for alg in rsa ed; do
		if [ $alg = rsa ]; then a=rsa-sha256; pykey=$T/rsa.pem; else a=ed25519-sha256; pykey=$T/ed.seed; fi
		for c in $CANONS; do
			id=$m.$alg.$(echo $c | tr / _)
			jobs="$jobs sign:$T/$m:$T/py.$id:$alg:$pykey:${c%/*}:${c#*/}:$a"
		done
	done
done
$PY "$T/dk.py" "$T/keys" $jobs > "$T/py.log" 2>&1
for j in $jobs; do
	f=$(echo "$j" | cut -d: -f3)
	id=${f##*/py.}
	if ! grep -qx "signed $f" "$T/py.log"; then
		bad "dkimpy sign $id: $(awk -v f="$f" '$2 == f { print; exit }' "$T/py.log")"
		continue
	fi
	if out=$("$TOOL" verify --keys "$T/keys" < "$f"); then
		ok "dkimpy->mamori $id"
	else
		bad "dkimpy->mamori $id: $out"
	fi
	cp "$f" "$T/tampered"
	printf 'tampered\r\n' >> "$T/tampered"
	if out=$("$TOOL" verify --keys "$T/keys" < "$T/tampered"); then
		bad "dkimpy->mamori tampered $id: passed"
	else
		case $out in
		*"body hash did not verify"*) ok "dkimpy->mamori tampered $id fails" ;;
		*) bad "dkimpy->mamori tampered $id: $out" ;;
		esac
	fi
done

# 2. mamori signs, dkimpy verifies (and rejects a changed Subject)
vjobs=""
for m in $MSGS; do
	for alg in rsa ed; do
		for c in $CANONS; do
			id=$m.$alg.$(echo $c | tr / _)
			if "$TOOL" sign --key "$T/$alg.pem" --domain example.org --selector $alg --canon $c \
				< "$T/$m" > "$T/mm.$id" 2>"$T/err"; then
				sed 's/^Subject:/Subject: x/' "$T/mm.$id" > "$T/mt.$id"
				vjobs="$vjobs verify:$T/mm.$id verify:$T/mt.$id"
			else
				bad "mamori sign $id: $(cat "$T/err")"
			fi
		done
	done
done
$PY "$T/dk.py" "$T/keys" $vjobs > "$T/pyv.log" 2>&1
for j in $vjobs; do
	f=${j#verify:}
	res=$(awk -v f="$f" '$2 == f { print; exit }' "$T/pyv.log")
	case $f in
	*/mm.*)
		id=${f##*/mm.}
		if [ "${res%% *}" = pass ]; then ok "mamori->dkimpy $id"; else bad "mamori->dkimpy $id: $res"; fi ;;
	*/mt.*)
		id=${f##*/mt.}
		if [ "${res%% *}" = fail ]; then ok "mamori->dkimpy tampered $id fails"
		else bad "mamori->dkimpy tampered $id: $res"; fi ;;
	esac
done

echo "dkim-crosscheck: $pass passed, $fail failed"
[ $fail -eq 0 ]
