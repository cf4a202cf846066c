#!/usr/bin/python3
"""A scripted SMTP sink on loopback for tests/integration/quarantine_cli.sh.

Like tests/integration/abuse/smtp_sink.py (Python 3.11 has no smtpd): it
answers EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT, undoes dot-
stuffing, and stores every accepted message as OUTDIR/N.eml with its
envelope in OUTDIR/N.env ("MAIL FROM:<..>" and one "RCPT TO:<..>" a line).
A recipient whose local part is "reject" is refused with 550.

The reply to the end of each message's data comes from PLANFILE: its first
line is taken (and removed) per message: "250", "451", "550", "drop" (close
the connection without a reply: the client cannot know the outcome), each
optionally followed by " delay=SECONDS" (wait before answering). An empty
or missing plan answers 250. Every reply given is appended to OUTDIR/log.

usage: relay_sink.py PORTFILE OUTDIR PLANFILE
"""
import asyncio
import os
import sys

PORTFILE, OUTDIR, PLANFILE = sys.argv[1:4]
counter = 0


def next_plan():
    try:
        with open(PLANFILE) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
    except FileNotFoundError:
        lines = []
    if not lines:
        return "250", 0.0
    with open(PLANFILE + ".tmp", "w") as f:
        f.write("".join(l + "\n" for l in lines[1:]))
    os.rename(PLANFILE + ".tmp", PLANFILE)
    parts = lines[0].split()
    delay = 0.0
    for p in parts[1:]:
        if p.startswith("delay="):
            delay = float(p[6:])
    return parts[0], delay


def log(line):
    with open(os.path.join(OUTDIR, "log"), "a") as f:
        f.write(line + "\n")


async def session(reader, writer):
    global counter

    async def reply(line):
        writer.write((line + "\r\n").encode())
        await writer.drain()

    await reply("220 sink.test ESMTP test sink")
    mail_from, rcpts = None, []
    while True:
        raw = await reader.readline()
        if not raw:
            break
        line = raw.decode("latin-1").rstrip("\r\n")
        verb = line[:4].upper()
        if verb == "EHLO":
            await reply("250-sink.test")
            await reply("250-8BITMIME")
            await reply("250 SIZE 10485760")
        elif verb == "HELO":
            await reply("250 sink.test")
        elif line.upper().startswith("MAIL FROM:"):
            mail_from, rcpts = line[10:].strip(), []
            await reply("250 OK")
        elif line.upper().startswith("RCPT TO:"):
            if mail_from is None:
                await reply("503 need MAIL first")
                continue
            addr = line[8:].strip()
            if addr.strip("<>").split("@")[0].lower() == "reject":
                log("550 rcpt " + addr)
                await reply("550 no such user")
                continue
            rcpts.append(addr)
            await reply("250 OK")
        elif verb == "DATA":
            if not rcpts:
                await reply("503 need RCPT first")
                continue
            await reply("354 go ahead")
            body = []
            while True:
                l = await reader.readline()
                if not l or l == b".\r\n":
                    break
                if l.startswith(b".."):
                    l = l[1:]
                body.append(l)
            code, delay = next_plan()
            if delay:
                await asyncio.sleep(delay)
            log(code)
            if code == "drop":
                break
            if code != "250":
                await reply(code + (" try again later" if code[0] == "4" else " rejected by the test plan"))
                mail_from, rcpts = None, []
                continue
            counter += 1
            with open(os.path.join(OUTDIR, "%d.eml" % counter), "wb") as f:
                f.write(b"".join(body))
            with open(os.path.join(OUTDIR, "%d.env" % counter), "w") as f:
                f.write("MAIL FROM:%s\n" % mail_from)
                for r in rcpts:
                    f.write("RCPT TO:%s\n" % r)
            mail_from, rcpts = None, []
            await reply("250 OK queued as %d" % counter)
        elif verb == "RSET":
            mail_from, rcpts = None, []
            await reply("250 OK")
        elif verb == "NOOP":
            await reply("250 OK")
        elif verb == "QUIT":
            await reply("221 bye")
            break
        else:
            await reply("502 not implemented")
    writer.close()


async def main():
    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(PORTFILE + ".tmp", PORTFILE)
    async with server:
        await server.serve_forever()


asyncio.run(main())
