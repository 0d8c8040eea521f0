"""An HTTPS server that stands in for a git forge asking for credentials, and writes down what
each request offered.

Every request is answered `401` with `WWW-Authenticate: Basic` (a private repository), and the
`user:password` its `Authorization` header offered, or `-` for none, is printed on a line of its
own. The first line printed
is `listening <port>`. Usage: `python3 auth_probe.py CERT KEY`.
"""

import base64
import http.server
import ssl
import sys


class Probe(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        offered = self.headers.get("Authorization", "")
        if offered.startswith("Basic "):
            offered = base64.b64decode(offered[6:]).decode(errors="replace")
        print("auth", offered or "-", flush=True)
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


def main():
    cert, key = sys.argv[1], sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Probe)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("listening", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
