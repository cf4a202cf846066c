#!/usr/bin/python3
"""A tiny SMTP sink (RFC 5321 subset) on loopback for tests/integration/dmarc_abuse.sh.

Python 3.11 no longer ships smtpd, so this is a small asyncio server: it
answers EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT, undoes dot-
stuffing, and stores every accepted message as OUTDIR/N.eml with its
envelope in OUTDIR/N.env ("MAIL FROM:<..>" and one "RCPT TO:<..>" a line).
A recipient whose local part is "reject" is refused with 550.

usage: smtp_sink.py PORTFILE OUTDIR
"""
import asyncio
import os
import sys

PORTFILE, OUTDIR = sys.argv[1:3]
counter = 0


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
                if not l or l in (b".\r\n", b".\n"):
                    break
                if l.startswith(b".."):
                    l = l[1:]
                body.append(l)
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
