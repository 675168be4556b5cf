"""Guard: ASGI middleware that keeps other web sites out of the local server.

A page on another site can make the browser send requests to 127.0.0.1 (a form post) or, after
pointing its own host name at 127.0.0.1 (DNS rebinding), read the answers. So:
- the Host header must be one of ``allowed_hosts`` (serve passes the loopback names when it
  binds to loopback), which a rebinding site cannot send;
- a request that changes something (any method but GET and HEAD) with an Origin header must
  come from the server's own origin;
- every response says where the page may load from (Content-Security-Policy 'self': nothing
  from a CDN or anywhere else, which also keeps it working offline).
"""
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none';"
                                 b" base-uri 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


class Guard:
    """Wraps ``app``; ``allowed_hosts`` None accepts any Host header."""

    def __init__(self, app, allowed_hosts=None):
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower().strip("[]") for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.allowed is not None and _hostname(host) not in self.allowed:
            return await _deny(scope, receive, send, 400, f"unexpected Host header {host[:60]!r}; this server"
                               f" answers to {', '.join(sorted(self.allowed))}")
        origin = headers.get("origin")
        if scope["method"] not in ("GET", "HEAD") and origin is not None and _netloc(origin) != host.lower():
            return await _deny(scope, receive, send, 403, f"refused a request from another site ({origin[:60]})")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _hostname(host):
    try:
        return (urlsplit("//" + host).hostname or "").lower()
    except ValueError:
        return ""


def _netloc(origin):
    try:
        return urlsplit(origin).netloc.lower()
    except ValueError:
        return ""


async def _deny(scope, receive, send, status, message):
    response = JSONResponse({"error": message}, status_code=status, headers={k.decode(): v.decode() for k, v in HEADERS})
    await response(scope, receive, send)
