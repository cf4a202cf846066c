# shellcheck shell=bash
# mta_lib.sh: shared plumbing for the tests and benchmark that put mamorid
# behind a real Postfix (sourced by test_inbound.sh, test_milter_fault.sh and
# bench/milter.sh; not run on its own).
#
# One private Postfix instance per run, everything under $T: its own config
# directory, queue and data directory, a maillog file, and two smtpd
# listeners on high loopback ports:
#   $PORT       with smtpd_milters -> mamorid's unix socket $SOCK
#               (milter_default_action = tempfail)
#   $PORT_PLAIN the same smtpd without any milter (quarantine release relay;
#               the benchmark's baseline)
# XCLIENT is allowed from loopback, so a test can present any client address.
# Mail for @example.net is delivered by virtual(8) into the Maildir
# $MAIL/box/ (or discarded, for the benchmark). No system users are needed
# beyond Postfix's own (postfix, postdrop).
#
# The caller sets T (a fresh directory) and calls mta_init, then
# mamorid_start / mta_postfix_start, and calls mta_cleanup from its EXIT
# trap. Processes are only ever stopped by the PIDs recorded here.

MTA_POSTFIX=$(command -v postfix || echo /usr/sbin/postfix)
MPID=
PF_STARTED=

# mta_need_root_postfix: exits 77 (skipped) when a private Postfix cannot run
mta_check_prereqs() {
	local why=
	[ "$(id -u)" = 0 ] || why="needs root to run a private Postfix instance"
	[ -z "$why" ] && [ ! -x "$MTA_POSTFIX" ] && why="postfix is not installed (Debian package postfix)"
	[ -z "$why" ] && ! id postfix >/dev/null 2>&1 && why="no postfix user"
	[ -z "$why" ] && ! getent group postdrop >/dev/null && why="no postdrop group"
	[ -z "$why" ] && ! command -v python3 >/dev/null && why="python3 is not installed"
	if [ -n "$why" ]; then
		echo "SKIP: $why"
		exit 77
	fi
}

mta_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

mta_init() {
	chmod 755 "$T" # smtpd (user postfix) must reach the socket below $T
	PF=$T/postfix
	MAIL=$T/mail
	SOCK=$T/var/mamorid.sock
	PORT=$(mta_free_port)
	PORT_PLAIN=$(mta_free_port)
	while [ "$PORT_PLAIN" = "$PORT" ]; do PORT_PLAIN=$(mta_free_port); done
	mkdir -p "$PF/etc" "$PF/queue" "$PF/data" "$MAIL" "$T/var"
	chown postfix:postfix "$PF/data" "$MAIL" "$T/var"
	chmod 750 "$T/var"
}

# mta_postfix_start [maildir|discard] [extra main.cf lines]
mta_postfix_start() {
	local delivery=${1:-maildir} extra=${2:-}
	local transport=virtual
	[ "$delivery" = discard ] && transport=discard
	. "${BASH_SOURCE[0]%/*}"/postfix_base.sh
	pf_base_main_cf >"$PF/etc/main.cf"
	cat >>"$PF/etc/main.cf" <<EOF
virtual_transport = $transport
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_milters = unix:$SOCK
milter_default_action = tempfail
milter_protocol = 6
smtputf8_enable = no
biff = no
in_flow_delay = 0
default_process_limit = 100
smtpd_client_connection_count_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_connection_rate_limit = 0
$extra
EOF
	# no chroot: the socket and maps live outside any chroot tree
	cat >"$PF/etc/master.cf" <<EOF
127.0.0.1:$PORT inet n - n - - smtpd
127.0.0.1:$PORT_PLAIN inet n - n - - smtpd -o smtpd_milters= -o syslog_name=postfix/plain
EOF
	cat "${BASH_SOURCE[0]%/*}"/postfix-services.cf >>"$PF/etc/master.cf"
	if ! "$MTA_POSTFIX" -c "$PF/etc" start >"$T/postfix-start.log" 2>&1; then
		cat "$T/postfix-start.log"
		echo "FAIL: postfix did not start"
		exit 1
	fi
	PF_STARTED=1
	local p
	for p in "$PORT" "$PORT_PLAIN"; do
		for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
	done
}

# mamorid_start MAMORID CONF: starts it in the foreground mode, in the
# background of this shell, log appended to $T/mamorid.log; waits until it
# listens (a fresh "listening" line)
mamorid_start() {
	local bin=$1 conf=$2 before
	before=$(grep -c 'milter listening' "$T/mamorid.log" 2>/dev/null || true)
	before=${before:-0}
	"$bin" -f -c "$conf" >>"$T/mamorid.log" 2>&1 &
	MPID=$!
	for _ in $(seq 1 200); do
		[ "$(grep -c 'milter listening' "$T/mamorid.log" 2>/dev/null)" -gt "$before" ] && [ -S "$SOCK" ] && return 0
		kill -0 "$MPID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$T/mamorid.log"
	echo "FAIL: mamorid did not start"
	exit 1
}

# mamorid_stop: SIGTERM, waits up to 15 s; prints the exit status
mamorid_stop() {
	[ -n "$MPID" ] || return 0
	kill -TERM "$MPID" 2>/dev/null
	for _ in $(seq 1 150); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$MPID" 2>/dev/null && kill -KILL "$MPID"
	wait "$MPID" 2>/dev/null
	local rc=$?
	MPID=
	return $rc
}

# mamorid_kill: SIGKILL, no chance to finish anything
mamorid_kill() {
	[ -n "$MPID" ] || return 0
	kill -KILL "$MPID" 2>/dev/null
	wait "$MPID" 2>/dev/null
	MPID=
}

mta_cleanup() {
	[ -n "$PF_STARTED" ] && "$MTA_POSTFIX" -c "$PF/etc" stop >/dev/null 2>&1
	PF_STARTED=
	if [ -n "$MPID" ] && kill -0 "$MPID" 2>/dev/null; then
		kill -TERM "$MPID"
		for _ in $(seq 1 100); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$MPID" 2>/dev/null && kill -KILL "$MPID"
	fi
	if [ "${KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}

# mta_wait_queue_empty [seconds]: until Postfix's queue holds nothing
# (every accepted message delivered); 0 when empty
mta_wait_queue_empty() {
	local n=${1:-30}
	for _ in $(seq 1 $((n * 10))); do
		if [ -z "$(find "$PF/queue/incoming" "$PF/queue/active" "$PF/queue/deferred" "$PF/queue/maildrop" -type f 2>/dev/null | head -1)" ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# mta_sanitizer_clean: 0 when the mamorid log has no sanitizer report
mta_sanitizer_clean() {
	! grep -Eq 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$T/mamorid.log"
}
