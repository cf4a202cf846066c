# redis_lib.sh: a private redis-server for integration tests (sourced).
#
#   redis_setup DIR     writes DIR/redis.conf (loopback, a free port, no
#                       persistence, daemonized with DIR/redis.pid) and the
#                       control script DIR/ctl; sets REDIS_PORT, REDIS_URL
#   DIR/ctl start|stop|hang|resume
#                       start (waits for PONG), stop (SIGTERM by PID, then
#                       SIGKILL), hang (SIGSTOP), resume (SIGCONT); also
#                       usable from programs the test runs
# The caller's EXIT trap must run "DIR/ctl stop".
# Needs redis-server and redis-cli (Debian package redis-server).

redis_available() {
	command -v redis-server >/dev/null && command -v redis-cli >/dev/null
}

redis_setup() {
	local dir=$1
	REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	REDIS_URL=redis://127.0.0.1:$REDIS_PORT
	cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $REDIS_PORT
daemonize yes
pidfile $dir/redis.pid
dir $dir
logfile $dir/redis.log
save ""
appendonly no
CONF
	cat >"$dir/ctl" <<CTL
#!/bin/bash
pid() { cat "$dir/redis.pid" 2>/dev/null; }
case \$1 in
start)
	rm -f "$dir/redis.pid"
	redis-server "$dir/redis.conf" || exit 1
	for _ in \$(seq 1 100); do
		redis-cli -p $REDIS_PORT ping 2>/dev/null | grep -q PONG && exit 0
		sleep 0.05
	done
	echo "redis did not start" >&2; cat "$dir/redis.log" >&2; exit 1 ;;
stop)
	p=\$(pid); [ -n "\$p" ] || exit 0
	kill -CONT "\$p" 2>/dev/null; kill -TERM "\$p" 2>/dev/null
	for _ in \$(seq 1 100); do kill -0 "\$p" 2>/dev/null || exit 0; sleep 0.05; done
	kill -KILL "\$p" 2>/dev/null; exit 0 ;;
hang) kill -STOP "\$(pid)" ;;
resume) kill -CONT "\$(pid)" ;;
*) echo "usage: ctl start|stop|hang|resume" >&2; exit 2 ;;
esac
CTL
	chmod +x "$dir/ctl"
}
