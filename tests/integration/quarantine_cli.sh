#!/bin/bash
# quarantine_cli.sh: `mamori quarantine` end to end, on loopback.
#
#   - messages are put into the quarantine through mailstore.h (the API
#     mamorid uses) by quarantine_tool;
#   - a scripted SMTP sink (quarantine/relay_sink.py) stands in for the
#     relay; a plan file chooses its reply to each message's data (250,
#     451, 550, a dropped connection, with a delay);
#   - list, show, download, release, delete and expire are run and their
#     results checked: the exact original bytes arrive once to the original
#     envelope, never twice, whatever is repeated or raced.
#
# usage: quarantine_cli.sh MAMORI QUARANTINE_TOOL HELPER_DIR
set -u
MAMORI=$1 TOOL=$2 HELPERS=$3
PY=/usr/bin/python3
[ -x $PY ] || { echo "SKIP: needs $PY"; exit 77; }

W=$(mktemp -d /tmp/mamori-quarantine.XXXXXX)
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

# ---- the sink ----
mkdir -p "$W/mail"
: >"$W/plan"
$PY "$HELPERS/relay_sink.py" "$W/smtp.port" "$W/mail" "$W/plan" 2>"$W/smtp.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$W/smtp.port" ] && break; sleep 0.1; done
[ -s "$W/smtp.port" ] || { bad "sink did not start"; cat "$W/smtp.err"; exit 1; }
SPORT=$(cat "$W/smtp.port")
echo "# SMTP sink 127.0.0.1:$SPORT"

cat >"$W/mamori.conf" <<EOF
general: { data_dir = "$W/var"; };
store: { path = "$W/mamori.db"; };
quarantine: { relay_url = "smtp://127.0.0.1:$SPORT"; release_attempts = 3; retention_days = 30; };
msglog: { retention_days = 10; };
EOF
Q() { "$MAMORI" -c "$W/mamori.conf" quarantine "$@"; }
put() { "$TOOL" -c "$W/mamori.conf" "$@"; }
delivered() { ls "$W/mail" | grep -c '\.eml$'; }
field() { # field ID KEY: a top-level value of show --json
	Q show --json "$1" | $PY -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(v if not isinstance(v,list) else "\n".join(v))' "$2"
}

# ---- messages: CRLF, a line starting with a dot, 8-bit text, no final
#      newline tricks; subject with an escape sequence ----
printf 'From: Boss <boss@example.com>\r\nTo: a@example.org\r\nSubject: urgent\r\nMessage-ID: <1@test>\r\n\r\nPay now.\r\n.hidden line starting with a dot\r\n..two dots\r\n\xe3\x81\x93\xe3\x82\x93\r\n' >"$W/m1.eml"
for i in 2 3 4 5 6 7 8 9; do
	printf 'From: x%s@example.net\r\nSubject: message %s\r\n\r\nbody %s\r\n.\r\nafter a lone dot\r\n' $i $i $i >"$W/m$i.eml"
done

# before mamorid ever ran: the command line reads an empty quarantine and
# creates no directory (the daemon makes it, as its own user)
check "list of an empty quarantine" sh -c "'$MAMORI' -c '$W/mamori.conf' quarantine list | grep -q 'no messages'"
check "the command line created no quarantine directory" test ! -e "$W/var/quarantine"

ID1=$(put --from '<sender@example.net>' --rcpt '<a@example.org>' --rcpt 'B@Example.org' \
	--header-from 'Boss <boss@example.com>' --subject $'urgent \x1b[31mRED\x1b[0m' \
	--reason 'impersonation: display name of a VIP from free mail' --reason 'score 12' \
	--queue-id Q1 --log "$W/m1.eml") || bad "put m1"
ID2=$(put --from 'x2@example.net' --rcpt 'c@example.org' --subject 'message 2' --reason 'lookalike reply-to' \
	"$W/m2.eml") || bad "put m2"
echo "# ids $ID1 $ID2"
check "ids are numbers" test -n "$ID1" -a -n "$ID2" -a "$ID1" != "$ID2"

# files are where the docs say, private, named by no content
QDIR="$W/var/quarantine"
check "quarantine dir is 0750" test "$(stat -c %a "$QDIR")" = 750
check "two files, q-<hex>.eml" test "$(ls "$QDIR" | grep -cE '^q-[0-9a-f]{32}\.eml$')" = 2
check "no temporary files left" test "$(ls -A "$QDIR" | grep -c '^\.tmp')" = 0

# ---- --help everywhere ----
for sub in list show download release delete expire; do
	check "quarantine $sub --help" sh -c "'$MAMORI' quarantine $sub --help | grep -q '^usage: mamori quarantine $sub'"
done
check "quarantine --help" sh -c "'$MAMORI' quarantine --help | grep -q release"

# ---- list and its filters ----
Q list >"$W/list.txt"
check "list shows both" sh -c "grep -q '^$ID1 ' '$W/list.txt' && grep -q '^$ID2 ' '$W/list.txt'"
check "list escapes the escape character" sh -c "! grep -q \$'\\x1b' '$W/list.txt' && grep -qF '\\x1b[31mRED' '$W/list.txt'"
count() { Q list --json "$@" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
check "--recipient b@example.org (case-insensitive)" test "$(count --recipient b@EXAMPLE.org)" = 1
check "--recipient example.org finds both" test "$(count --recipient example.org)" = 2
check "--sender matches header From" test "$(count --sender boss@example.com)" = 1
check "--sender matches envelope" test "$(count --sender x2@example.net)" = 1
check "--reason substring" test "$(count --reason LOOKALIKE)" = 1
check "--since 1h" test "$(count --since 1h)" = 2
check "--until 2000-01-01" test "$(count --until 2000-01-01)" = 0
check "--state held" test "$(count --state held)" = 2
check "--state released" test "$(count --state released)" = 0
check "--state bogus is a usage error" sh -c "'$MAMORI' -c '$W/mamori.conf' quarantine list --state bogus 2>/dev/null; test \$? = 64"

# ---- show ----
Q show "$ID1" >"$W/show.txt"
check "show: recipients without brackets" sh -c "grep -q 'a@example.org' '$W/show.txt' && grep -q 'B@Example.org' '$W/show.txt'"
check "show: no raw escape" sh -c "! grep -q \$'\\x1b' '$W/show.txt'"
check "show --json: sha256 of the file" test "$(field "$ID1" sha256)" = "$(sha256sum <"$W/m1.eml" | cut -d' ' -f1)"
check "show --json: state held" test "$(field "$ID1" state)" = held
check "show --json: mail_from" test "$(field "$ID1" mail_from)" = sender@example.net
check "show of a missing id" sh -c "'$MAMORI' -c '$W/mamori.conf' quarantine show 999999 2>/dev/null; test \$? = 1"

# ---- download ----
Q download -o "$W/dl1.eml" "$ID1"
check "download -o: exact bytes" cmp -s "$W/m1.eml" "$W/dl1.eml"
Q download "$ID1" >"$W/dl1b.eml"
check "download to stdout: exact bytes" cmp -s "$W/m1.eml" "$W/dl1b.eml"

# ---- release: exactly once ----
Q release "$ID1" >"$W/rel.out" 2>&1
rc=$?
check "release exits 0" test $rc = 0
check "one message delivered" test "$(delivered)" = 1
check "the exact original bytes" cmp -s "$W/m1.eml" "$W/mail/1.eml"
# (curl adds SIZE= to MAIL FROM: an ESMTP parameter, not part of the address)
check "original envelope" test "$(sed 's/ SIZE=[0-9]*$//' "$W/mail/1.env")" = "$(printf 'MAIL FROM:<sender@example.net>\nRCPT TO:<a@example.org>\nRCPT TO:<B@Example.org>')"
check "state released" test "$(field "$ID1" state)" = released
Q release "$ID1" >"$W/rel2.out" 2>&1
rc=$?
check "second release: exit 0, says already released" sh -c "test $rc = 0 && grep -q 'already released' '$W/rel2.out'"
check "second release delivered nothing" test "$(delivered)" = 1

# two releases at once: the sink holds its reply so they overlap
ID3=$(put --from s3@example.net --rcpt d@example.org "$W/m3.eml")
echo "250 delay=1.5" >"$W/plan"
Q release "$ID3" >"$W/c1.out" 2>&1 &
P1=$!
sleep 0.3
Q release "$ID3" >"$W/c2.out" 2>&1 &
P2=$!
wait $P1
wait $P2
cat "$W/c1.out" "$W/c2.out" | sed 's/^/#   /'
check "concurrent releases: delivered once" test "$(delivered)" = 2
check "concurrent releases: the second saw the claim" grep -q 'in progress' "$W/c2.out"
check "concurrent: the copy is exact" cmp -s "$W/m3.eml" "$W/mail/2.eml"
# and a few more, racing without a delay
ID4=$(put --from s4@example.net --rcpt e@example.org "$W/m4.eml")
RACE=()
for _ in 1 2 3 4; do
	Q release "$ID4" >/dev/null 2>&1 &
	RACE+=($!)
done
wait "${RACE[@]}"
check "four racing releases: delivered once" test "$(delivered)" = 3

# 451 then 250: one retry, delivered once
ID5=$(put --from s5@example.net --rcpt f@example.org "$W/m5.eml")
printf '451\n250\n' >"$W/plan"
Q release "$ID5" >"$W/r5.out" 2>&1
rc=$?
check "451 then 250: exit 0" test $rc = 0
check "451 then 250: delivered once" test "$(delivered)" = 4
check "451 then 250: exact bytes" cmp -s "$W/m5.eml" "$W/mail/4.eml"
check "451 then 250: two attempts recorded" test "$(field "$ID5" attempts)" = 2
check "451 then 250: the retry was announced" grep -q 'retrying' "$W/r5.out"

# 550: failed, nothing delivered, not released again without --force
ID6=$(put --from s6@example.net --rcpt g@example.org "$W/m6.eml")
echo 550 >"$W/plan"
Q release "$ID6" >"$W/r6.out" 2>&1
rc=$?
check "550: exit 1" test $rc = 1
check "550: state failed" test "$(field "$ID6" state)" = failed
check "550: nothing delivered" test "$(delivered)" = 4
check "550: one attempt" test "$(field "$ID6" attempts)" = 1
Q release "$ID6" >"$W/r6b.out" 2>&1
check "failed: release without --force refused" sh -c "grep -q 'force' '$W/r6b.out' && test $(delivered) = 4"
Q release --force "$ID6" >/dev/null 2>&1
check "failed: --force releases it" sh -c "test $(delivered) = 5 && cmp -s '$W/m6.eml' '$W/mail/5.eml'"

# temporary failures run out: still held, then a later release works
ID7=$(put --from s7@example.net --rcpt h@example.org "$W/m7.eml")
printf '451\n451\n451\n' >"$W/plan"
Q release "$ID7" >"$W/r7.out" 2>&1
rc=$?
check "451 x3: exit 75" test $rc = 75
check "451 x3: held again" test "$(field "$ID7" state)" = held
check "451 x3: three attempts" test "$(field "$ID7" attempts)" = 3
check "451 x3: nothing delivered" test "$(delivered)" = 5
Q release "$ID7" >/dev/null 2>&1
check "later release delivers it once" sh -c "test $(delivered) = 6 && cmp -s '$W/m7.eml' '$W/mail/6.eml'"

# a refused recipient refuses the whole release (all or nothing)
ID8=$(put --from s8@example.net --rcpt i@example.org --rcpt reject@example.org "$W/m8.eml")
Q release "$ID8" >/dev/null 2>&1
check "refused recipient: failed, nothing delivered" sh -c "test $(delivered) = 6 && test \"\$($MAMORI -c $W/mamori.conf quarantine show --json $ID8 | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"state\"])')\" = failed"

# the connection drops after the data: outcome unknown, never retried
ID9=$(put --from s9@example.net --rcpt j@example.org "$W/m9.eml")
echo drop >"$W/plan"
Q release "$ID9" >"$W/r9.out" 2>&1
check "dropped after data: failed, unknown outcome" sh -c "test '$(field "$ID9" state)' = failed && grep -q 'outcome unknown' '$W/r9.out'"
check "dropped after data: one attempt only" test "$(field "$ID9" attempts)" = 1

# AUTH needs TLS, which this relay does not offer: a set-up error, not the
# message's: no retries, held, and the password shows nowhere
ID10=$(put --from s10@example.net --rcpt l@example.org "$W/m9.eml")
printf 'sEcReT-pw-123\n' >"$W/relay.pw"
sed "s|quarantine: {|quarantine: { relay_user = \"mamori\"; relay_password_file = \"$W/relay.pw\";|" \
	"$W/mamori.conf" >"$W/auth.conf"
"$MAMORI" -c "$W/auth.conf" quarantine release "$ID10" >"$W/r10.out" 2>&1
rc=$?
check "AUTH without TLS: exit 70, one attempt, held" sh -c "test $rc = 70 && test '$(field "$ID10" attempts)' = 1 && test '$(field "$ID10" state)' = held"
check "AUTH without TLS: the password is not shown" sh -c "! grep -q sEcReT '$W/r10.out' && ! '$MAMORI' -c '$W/mamori.conf' quarantine show --json $ID10 | grep -q sEcReT"
check "AUTH without TLS: nothing delivered" test "$(delivered)" = 6

# ---- delete ----
F2=$(field "$ID2" file)
Q delete "$ID2" >"$W/d.out"
check "delete: exit 0 and file gone" sh -c "grep -q deleted '$W/d.out' && test ! -e '$F2'"
check "delete: state deleted" test "$(field "$ID2" state)" = deleted
check "download of a deleted message: exit 1" sh -c "'$MAMORI' -c '$W/mamori.conf' quarantine download -o '$W/x' $ID2 2>/dev/null; test \$? = 1"
check "release of a deleted message: exit 1, nothing sent" sh -c "'$MAMORI' -c '$W/mamori.conf' quarantine release $ID2 >/dev/null 2>&1; test \$? = 1 && test $(delivered) = 6"
Q delete "$ID2" >"$W/d2.out"
check "delete again: already deleted" grep -q 'already deleted' "$W/d2.out"
check "release of an unknown id: exit 1" sh -c "'$MAMORI' -c '$W/mamori.conf' quarantine release 424242 >/dev/null 2>&1; test \$? = 1"

# a bounce (null sender) is released with the null sender
ID11=$(put --from '<>' --rcpt m@example.org "$W/m3.eml")
Q release "$ID11" >/dev/null 2>&1
check "null sender: delivered once with MAIL FROM:<>" sh -c "test $(delivered) = 7 && grep -q '^MAIL FROM:<>' '$W/mail/7.env'"

# ---- expire ----
OLD=$(($(date +%s) - 40 * 86400))
IDOLD=$(put --from old@example.net --rcpt k@example.org --time $OLD --log "$W/m2.eml")
FOLD=$(field "$IDOLD" file)
touch -d '2 hours ago' "$QDIR/.tmp-0123456789abcdef0123456789abcdef"
touch -d '2 hours ago' "$QDIR/q-00000000000000000000000000000000.eml"
touch "$QDIR/q-11111111111111111111111111111111.eml" # young stray: may still get its row
Q expire >"$W/exp.out"
cat "$W/exp.out" | sed 's/^/#   /'
check "expire: one message and one log row" grep -q 'expired 1 quarantined message and 1 message-log row' "$W/exp.out"
check "expire: its file is gone" test ! -e "$FOLD"
check "expire: its row is gone" sh -c "'$MAMORI' -c '$W/mamori.conf' quarantine show $IDOLD >/dev/null 2>&1; test \$? = 1"
check "expire: old stray files gone" sh -c "test ! -e '$QDIR/.tmp-0123456789abcdef0123456789abcdef' && test ! -e '$QDIR/q-00000000000000000000000000000000.eml'"
check "expire: a young stray file stays" test -e "$QDIR/q-11111111111111111111111111111111.eml"
check "expire: the eleven recent messages stay" test "$(count)" = 11

echo "# sink log: $(tr '\n' ' ' <"$W/mail/log")"
if [ $FAILS -gt 0 ]; then
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "all checks passed"
