"""What every request passes first (pure ASGI, outside everything else):

- the Host allow-list: a page on another site that rebinds its DNS name to 127.0.0.1 sends its own name as
  Host, so refusing unknown names keeps it from reading the answers (421);
- cross-site writes: a web page may make a visitor's browser POST a form to this server without any CORS
  preflight, so a POST (or any write) whose Origin is neither this server's own nor one of ``cors_origins``
  is refused (403), as is one a browser marks ``Sec-Fetch-Site: cross-site``; clients that are not browsers
  send no Origin and are not affected;
- security headers on every page and file (GET and HEAD): no sniffing of content types, no framing by other
  sites, no referrer; the API's POST answers are JSON and go without them (they cost the hot path time).
"""

from __future__ import annotations

import orjson

SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", b"frame-ancestors 'none'; base-uri 'self'; form-action 'self'")]
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def host_name(host: str) -> str:
    """The name of a Host header, without its port: "[::1]:8000" -> "::1", "Example.org:80" -> "example.org"."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    def __init__(self, app, allowed_hosts: tuple[str, ...], trusted_origins: tuple[str, ...]):
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed_hosts = frozenset(allowed_hosts)
        self.trusted_origins = frozenset(origin.rstrip("/").lower() for origin in trusted_origins)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = origin = fetch_site = b""
        for name, value in scope["headers"]:  # one pass, no dict: this runs before every request
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                fetch_site = value
        host_text = host.decode("latin-1")
        if not self.any_host and host_name(host_text) not in self.allowed_hosts:
            return await refuse(send, 421, "unknown_host", f"this server does not answer to the host {host_text!r} "
                                "(start it with --allowed-host NAME to add a name)")
        if scope["method"] not in SAFE_METHODS:
            if origin or fetch_site == b"cross-site":
                seen = origin.decode("latin-1").rstrip("/").lower()
                if not (seen and (seen.split("://", 1)[-1] == host_text.lower() or seen in self.trusted_origins)):
                    return await refuse(send, 403, "cross_site", f"writes from another site ({seen or 'cross-site'}) "
                                        "are refused; a page on another origin needs --cors-origin")
            return await self.app(scope, receive, send)  # the API's JSON answers: nothing to frame or sniff

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def refuse(send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})
