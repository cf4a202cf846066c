#!/usr/bin/env python3
"""A minimal IMAP4rev1 server on loopback for `mamori dmarc fetch` tests.

usage: imap_fake.py PORTFILE LOGFILE MSG...
Serves one mailbox (INBOX) holding the given files as messages with UIDs
1..N, all unseen. Understands what libcurl sends: CAPABILITY, LOGIN,
SELECT/EXAMINE, UID SEARCH, UID FETCH n BODY[] / BODY.PEEK[], UID STORE,
UID MOVE, UID COPY, EXPUNGE, LOGOUT. Writes the port to PORTFILE and every
command received (passwords masked) to LOGFILE; serves one connection
after another until killed.
"""
import re
import socket
import sys

portfile, logfile, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
msgs = {i + 1: open(p, 'rb').read() for i, p in enumerate(paths)}
flags = {uid: set() for uid in msgs}
moved = {}
log = open(logfile, 'a')

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', 0))
srv.listen(1)
with open(portfile, 'w') as f:
    f.write(str(srv.getsockname()[1]))


def serve(conn):
    rf = conn.makefile('rb')
    conn.sendall(b'* OK fake IMAP ready\r\n')
    while True:
        line = rf.readline()
        if not line:
            return
        line = line.rstrip(b'\r\n').decode('utf-8', 'replace')
        tag, _, rest = line.partition(' ')
        cmd = rest.upper()
        shown = re.sub(r'^(LOGIN \S+) .*', r'\1 ***', rest, flags=re.I)
        log.write(shown + '\n')
        log.flush()
        out = b''
        if cmd.startswith('CAPABILITY'):
            out = b'* CAPABILITY IMAP4rev1 MOVE\r\n'
        elif cmd.startswith('LOGIN'):
            if not rest.endswith(' secret') and not rest.endswith(' "secret"'):
                conn.sendall(tag.encode() + b' NO bad password\r\n')
                continue
        elif cmd.startswith('SELECT') or cmd.startswith('EXAMINE'):
            out = b'* %d EXISTS\r\n* OK [UIDVALIDITY 1] ok\r\n' % len(msgs)
        elif cmd.startswith('UID SEARCH'):
            uids = [u for u in sorted(msgs) if '\\Seen' not in flags[u]]
            out = b'* SEARCH' + b''.join(b' %d' % u for u in uids) + b'\r\n'
        elif cmd.startswith('UID FETCH'):
            m = re.match(r'UID FETCH (\d+) (BODY(\.PEEK)?\[\])', rest, re.I)
            uid = int(m.group(1)) if m else 0
            if uid in msgs:
                if not m.group(3):
                    flags[uid].add('\\Seen')
                body = msgs[uid]
                out = b'* %d FETCH (UID %d BODY[] {%d}\r\n' % (uid, uid, len(body)) + body + b')\r\n'
        elif cmd.startswith('UID STORE'):
            m = re.match(r'UID STORE (\d+) ([+-])FLAGS(\.SILENT)? \((.*)\)', rest, re.I)
            if m and int(m.group(1)) in flags:
                f = flags[int(m.group(1))]
                for fl in m.group(4).split():
                    (f.add if m.group(2) == '+' else f.discard)(fl)
        elif cmd.startswith('UID MOVE'):
            m = re.match(r'UID MOVE (\d+) (.*)', rest, re.I)
            uid = int(m.group(1))
            moved[uid] = m.group(2)
            msgs.pop(uid, None)
            flags.pop(uid, None)
        elif cmd.startswith('LOGOUT'):
            conn.sendall(b'* BYE\r\n' + tag.encode() + b' OK bye\r\n')
            return
        elif cmd.startswith('NOOP') or cmd.startswith('EXPUNGE'):
            pass
        else:
            conn.sendall(tag.encode() + b' BAD unknown\r\n')
            continue
        conn.sendall(out + tag.encode() + b' OK done\r\n')


while True:
    c, _ = srv.accept()
    try:
        serve(c)
    except (ConnectionError, OSError):
        pass
    c.close()
    log.write('STATE flags=%s moved=%s\n' % ({u: sorted(f) for u, f in flags.items()}, moved))
    log.flush()
