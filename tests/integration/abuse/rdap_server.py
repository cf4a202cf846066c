#!/usr/bin/python3
"""A tiny RDAP server over HTTPS on loopback for tests/integration/dmarc_abuse.sh.

Serves the IANA-style bootstrap files and recorded RDAP answers from
tests/data/rdap/, mapped by (registry, network) below, including one
RIR-to-RIR redirect as real registries do (RFC 7480 5.2). Every request
path is appended to LOG so the test can check what was asked (and that a
cached run asks nothing).

usage: rdap_server.py PORTFILE CERT KEY DATADIR LOG
"""
import http.server
import ipaddress
import json
import os
import ssl
import sys

PORTFILE, CERT, KEY, DATADIR, LOG = sys.argv[1:6]

# registry -> [(network, answer file or ("redirect", registry))], longest prefix wins
ROUTES = {
    "ripe": [
        ("192.0.2.128/26", "lacnic-noabuse.json"),
        ("192.0.2.0/24", "ripe-192.0.2.0-24.json"),
        ("2001:db8::/32", "ripe-2001-db8-32.json"),
    ],
    "arin": [
        ("198.51.100.0/24", "arin-198.51.100.0-24.json"),
        ("203.0.113.0/24", ("redirect", "apnic")),
    ],
    "apnic": [
        ("203.0.113.0/24", "apnic-203.0.113.0-24.json"),
    ],
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, ctype="application/rdap+json", extra=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with open(LOG, "a") as f:
            f.write(self.path + "\n")
        base = "https://127.0.0.1:%d/" % self.server.server_address[1]
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "bootstrap" and parts[1] in ("ipv4.json", "ipv6.json"):
            with open(os.path.join(DATADIR, "bootstrap", parts[1])) as f:
                self.send(200, f.read().replace("@BASE@", base), "application/json")
            return
        if len(parts) == 3 and parts[0] in ROUTES and parts[1] == "ip":
            try:
                addr = ipaddress.ip_address(parts[2])
            except ValueError:
                self.send(400, json.dumps({"errorCode": 400, "title": "Bad Request"}))
                return
            best = None
            for net, target in ROUTES[parts[0]]:
                n = ipaddress.ip_network(net)
                if addr.version == n.version and addr in n and (best is None or n.prefixlen > best[0].prefixlen):
                    best = (n, target)
            if best is not None:
                target = best[1]
                if isinstance(target, tuple):
                    self.send(301, "", extra={"Location": "%s%s/ip/%s" % (base, target[1], parts[2])})
                    return
                with open(os.path.join(DATADIR, target), "rb") as f:
                    self.send(200, f.read())
                return
        with open(os.path.join(DATADIR, "error-404.json"), "rb") as f:
            self.send(404, f.read())


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
