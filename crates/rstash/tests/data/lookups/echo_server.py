"""A small HTTP server for the http filter test: /json echoes the request as JSON, /text answers
plain text, /status/N answers N, /badjson sends invalid JSON as application/json.
Prints its port, then serves until killed."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    def answer(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if url.path == "/json":
            doc = {
                "method": self.command,
                "path": url.path,
                "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                "content_type": self.headers.get("content-type"),
                "x_user": self.headers.get("x-user"),
                "authorization": self.headers.get("authorization"),
                "body": body,
            }
            self.send("application/json; charset=utf-8", json.dumps(doc), 200)
        elif url.path == "/text":
            self.send("text/plain", "  plain answer \n", 200)
        elif url.path.startswith("/status/"):
            self.send("text/plain", "nope", int(url.path.rsplit("/", 1)[1]))
        elif url.path == "/badjson":
            self.send("application/json", "{not json", 200)
        else:
            self.send("text/plain", "unknown", 404)

    def send(self, ctype, text, code):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Served-By", "echo")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = answer

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
