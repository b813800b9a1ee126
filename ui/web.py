"""The studio's front door: what every HTTP request meets before gradio (an ASGI middleware).

- **Host and Origin.** Bound to loopback, only localhost names are answered (a web page cannot
  reach the studio through DNS rebinding); a request that carries an ``Origin`` must come from
  the studio's own origin (no cross-site form posts, uploads or API calls).
- **Sign-in first** (``--auth``): before a user has signed in, the only answers are the studio's
  own sign-in page (nothing about the app, its endpoints or its runs) and ``POST /login``, which
  is throttled: after a few wrong passwords for a user name (or from one address) each further
  try waits longer, up to five minutes.
- **Files.** Nothing a user uploaded is ever rendered from the studio's origin: the runs folder is
  not served at all, and a file in the server's temporary folder only to the user it was handed
  to (their own upload, a download a callback gave them), always as an attachment, with
  ``nosniff`` and a sandboxing Content-Security-Policy.
- **Headers** on every answer: ``X-Content-Type-Options: nosniff``, a restrictive
  Content-Security-Policy, ``Referrer-Policy``, framing by the studio itself only (on a Hugging
  Face Space: by the Hub's pages).

The callbacks hand files out with ``hand_out`` (the current user may then download that copy)
and accept uploaded paths with ``owns_upload``.
"""

from __future__ import annotations

import html
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from ui.i18n import t

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
# paths an anonymous visitor of a signed-in studio may reach: the sign-in page and its form
OPEN_PATHS = {
    "/",
    "/login",
    "/login/",
    "/favicon.ico",
    "/robots.txt",
    "/gradio_api/startup-events",
}  # (launch() itself calls this once)
FILE_PREFIXES = ("/gradio_api/file=", "/gradio_api/file/", "/file=")
UPLOAD_PATHS = ("/gradio_api/upload", "/gradio_api/upload/")
# gradio's page needs inline scripts (its config) and styles; nothing is loaded from elsewhere
APP_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; worker-src 'self' blob:; media-src 'self' blob: data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {ancestors}"
)
FILE_CSP = "default-src 'none'; sandbox"
SPACE_ANCESTORS = "'self' https://huggingface.co https://*.hf.space"


def hostname(value: str | None) -> str:
    """The host name of a Host header or an origin ("[::1]:7860" -> "::1")."""
    value = (value or "").strip()
    if "://" in value:
        value = urlsplit(value).netloc
    value = value.rpartition("@")[2]
    if value.startswith("["):
        return value[1 : value.find("]")].lower() if "]" in value else value[1:].lower()
    return value.partition(":")[0].lower()


def _netloc(origin: str) -> str:
    parts = urlsplit(origin)
    return parts.netloc.lower() if parts.scheme in ("http", "https") else ""


# ---- who may fetch which temporary file --------------------------------------------------------


class Grants:
    """Which files of the server's temporary folder each user may download: what they uploaded
    and what a callback handed them. In memory: the folder is emptied when the studio starts."""

    def __init__(self) -> None:
        self._by_user: dict[str | None, set[str]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(path: str | Path) -> str:
        return os.path.realpath(path)

    def grant(self, user: str | None, path: str | Path) -> None:
        with self._lock:
            self._by_user.setdefault(user, set()).add(self._key(path))

    def allowed(self, user: str | None, path: str | Path) -> bool:
        with self._lock:
            return self._key(path) in self._by_user.get(user, set())


# ---- sign-in attempts ---------------------------------------------------------------------------


class LoginThrottle:
    """Failed sign-ins per key (a user name, a client address): the first ``free`` failures cost
    nothing, then every failure doubles the wait before the next try (``base`` seconds, at most
    ``cap``). A success clears the key."""

    def __init__(
        self,
        free: int = 5,
        base: float = 2.0,
        cap: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.free, self.base, self.cap, self.clock = free, base, cap, clock
        self._state: dict[str, tuple[int, float]] = {}  # key -> (failures, locked until)
        self._lock = threading.Lock()

    def wait(self, keys: list[str]) -> float:
        """Seconds to wait before any of ``keys`` may try again (0: now)."""
        now = self.clock()
        with self._lock:
            return max([self._state.get(k, (0, 0.0))[1] - now for k in keys] + [0.0])

    def failed(self, keys: list[str], free: dict[str, int] | None = None) -> None:
        now = self.clock()
        with self._lock:
            for k in keys:
                n = self._state.get(k, (0, 0.0))[0] + 1
                allowance = (free or {}).get(k, self.free)
                until = (
                    now + min(self.cap, self.base * 2 ** (n - allowance - 1))
                    if n > allowance
                    else 0.0
                )
                self._state[k] = (n, until)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for k in keys:
                self._state.pop(k, None)

    def clear(self) -> None:
        with self._lock:
            self._state.clear()


# ---- the policy and the middleware -----------------------------------------------------------


@dataclass
class WebPolicy:
    """What the front door enforces for one studio."""

    auth: bool = False  # --auth: sign in first, files per user
    loopback: bool = True  # bound to 127.0.0.1 / localhost: localhost names only
    private_dirs: tuple[Path, ...] = ()  # never served (the runs folder)
    temp_dir: Path | None = None  # the server's temporary folder (per-user downloads)
    grants: Grants = field(default_factory=Grants)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    lang: str = "en"
    on_space: bool = False

    @property
    def csp(self) -> str:
        return APP_CSP.format(ancestors=SPACE_ANCESTORS if self.on_space else "'self'")


class StudioGuard:
    """The ASGI middleware of the studio's FastAPI app (installed by ``launch_kwargs``)."""

    def __init__(self, app: Any, policy: WebPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        problem = self._refused(headers)
        if problem:
            return await _answer(scope, send, 403, {"error": problem}, self.policy)
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "GET")
        user = _signed_in_user(scope, headers)
        if self.policy.auth and user is None:
            if path in ("/login", "/login/") and method == "POST":
                return await self._login(scope, receive, send, headers)
            if path == "/" and method in ("GET", "HEAD"):
                return await _login_page(scope, send, self.policy, headers)
            if path not in OPEN_PATHS:
                return await _answer(scope, send, 401, {"error": "Sign in first."}, self.policy)
        if path.startswith(FILE_PREFIXES):
            return await self._file(scope, receive, send, path, user)
        if self.policy.auth and method == "POST" and path in UPLOAD_PATHS:
            return await self._upload(scope, receive, send, user)
        await self.app(scope, receive, _with_headers(send, self.policy))

    # ---- checks --------------------------------------------------------------------------
    def _refused(self, headers: dict[str, str]) -> str:
        host = headers.get("host", "")
        if self.policy.loopback and hostname(host) not in LOOPBACK_NAMES:
            return (
                "This studio only answers on localhost (the Host header named "
                f"{hostname(host) or 'nothing'})."
            )
        origin = headers.get("origin")
        if origin is not None:
            forwarded = headers.get("x-forwarded-host", "").split(",")[0].strip().lower()
            netloc = _netloc(origin)
            same = netloc and netloc in (host.lower(), forwarded)
            if not same or (self.policy.loopback and hostname(origin) not in LOOPBACK_NAMES):
                return "Requests from another site are refused."
        return ""

    async def _login(self, scope, receive, send, headers) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > 64 * 1024:
                return await _answer(scope, send, 413, {"error": "Too large."}, self.policy)
        from urllib.parse import parse_qs

        form = parse_qs(body.decode("utf-8", "replace"))
        name = (form.get("username") or [""])[0].strip()
        client = (scope.get("client") or ("?", 0))[0]
        keys = [f"user:{name}", f"addr:{client}"]
        wait = self.policy.throttle.wait(keys)
        if wait > 0:
            seconds = int(wait + 0.999)
            return await _answer(
                scope,
                send,
                429,
                {"error": "Too many attempts.", "retry_after": seconds},
                self.policy,
                extra=[(b"retry-after", str(seconds).encode())],
            )
        status: dict[str, int] = {}
        replay = [{"type": "http.request", "body": body, "more_body": False}]

        async def once():
            return replay.pop() if replay else await receive()

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await _with_headers(send, self.policy)(message)

        await self.app(scope, once, watch)
        if status.get("code") == 200:
            self.policy.throttle.succeeded(keys)
        else:
            # one address may mistype a few names; a name gets fewer free tries
            self.policy.throttle.failed(keys, free={f"addr:{client}": 20})

    async def _file(self, scope, receive, send, path: str, user: str | None) -> None:
        raw = path.split("file=", 1)[1] if "file=" in path else path.split("/file/", 1)[1]
        if raw.startswith(("http://", "https://", "//")):
            return await _answer(scope, send, 404, {"error": "Not found."}, self.policy)
        real = Path(os.path.realpath(raw))
        temp = Path(os.path.realpath(self.policy.temp_dir)) if self.policy.temp_dir else None
        private = [Path(os.path.realpath(d)) for d in self.policy.private_dirs]
        in_temp = temp is not None and temp in real.parents
        if in_temp:
            if self.policy.auth and not self.policy.grants.allowed(user, real):
                return await _answer(scope, send, 404, {"error": "Not found."}, self.policy)
            return await self.app(scope, receive, _as_download(send, self.policy, real.name))
        if any(d == real or d in real.parents for d in private):
            return await _answer(scope, send, 404, {"error": "Not found."}, self.policy)
        await self.app(scope, receive, _with_headers(send, self.policy, csp=FILE_CSP))

    async def _upload(self, scope, receive, send, user: str | None) -> None:
        """Pass the upload on; the paths it answers are granted to the uploading user."""
        state: dict[str, Any] = {"status": 0, "body": b""}
        forward = _with_headers(send, self.policy)

        async def watch(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body" and state["status"] == 200:
                state["body"] += message.get("body", b"")
                if not message.get("more_body", False):
                    try:
                        for p in json.loads(state["body"] or b"[]"):
                            if isinstance(p, str):
                                self.policy.grants.grant(user, p)
                    except ValueError:
                        pass
            await forward(message)

        await self.app(scope, receive, watch)


def _headers(scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers", []):
        out.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
    return out


def _signed_in_user(scope, headers: dict[str, str]) -> str | None:
    """The user of the gradio sign-in cookie (None: not signed in, or no sign-in)."""
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
    if not tokens or not cookie_id:
        return None
    from http.cookies import CookieError, SimpleCookie

    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:
        return None
    for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
        if name in jar and jar[name].value in tokens:
            return tokens[jar[name].value]
    return None


def _security_headers(policy: WebPolicy, csp: str | None = None) -> list[tuple[bytes, bytes]]:
    out = [
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", (csp or policy.csp).encode()),
        (b"referrer-policy", b"same-origin"),
    ]
    if not policy.on_space:
        out.append((b"x-frame-options", b"SAMEORIGIN"))
    return out


def _with_headers(send, policy: WebPolicy, csp: str | None = None, replace: dict | None = None):
    """``send`` with the security headers added to the response (and ``replace``'s set)."""
    extra = _security_headers(policy, csp)
    names = {k for k, _ in extra} | set(replace or {})

    async def wrapped(message):
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
            message = {**message, "headers": kept + extra + list((replace or {}).items())}
        await send(message)

    return wrapped


def _as_download(send, policy: WebPolicy, name: str):
    """A file from the temporary folder: always an attachment, never rendered."""
    quoted = name.replace("\\", "_").replace('"', "_")
    ascii_name = quoted.encode("ascii", "replace").decode().replace("?", "_")
    from urllib.parse import quote

    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return _with_headers(
        send,
        policy,
        csp=FILE_CSP,
        replace={
            b"content-disposition": disposition.encode("latin-1"),
            b"content-type": b"application/octet-stream",
        },
    )


async def _answer(
    scope, send, status: int, body: dict, policy: WebPolicy, extra: list | None = None
) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await _with_headers(send, policy)(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send(
        {"type": "http.response.body", "body": data if scope.get("method") != "HEAD" else b""}
    )


# ---- the sign-in page ---------------------------------------------------------------------------


def _page_lang(policy: WebPolicy, headers: dict[str, str]) -> str:
    accept = headers.get("accept-language", "").lower()
    if policy.lang == "zh" or accept.startswith("zh"):
        return "zh"
    return "en"


LOGIN_CSS = """
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",
"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;background:#f8fafc;color:#0f172a}
main{max-width:360px;margin:12vh auto;padding:28px 32px;background:#fff;border-radius:12px;
box-shadow:0 1px 3px rgba(15,23,42,.12),0 8px 24px rgba(15,23,42,.06)}
.brand{font-size:1.5rem;font-weight:700;margin-bottom:4px}.logo{color:#4f46e5}
p.hint{color:#475569;font-size:.92rem;margin:0 0 18px}
label{display:block;font-size:.9rem;font-weight:600;margin:12px 0 4px}
input{width:100%;box-sizing:border-box;padding:9px 10px;font-size:1rem;border:1px solid #cbd5e1;
border-radius:8px}input:focus{outline:2px solid #6366f1;border-color:#6366f1}
button{margin-top:18px;width:100%;padding:10px;font-size:1rem;font-weight:600;color:#fff;
background:#4f46e5;border:0;border-radius:8px;cursor:pointer}button:disabled{opacity:.6}
#login-error{color:#b91c1c;font-size:.92rem;min-height:1.3em;margin-top:12px}
"""

LOGIN_JS = """
const form = document.getElementById("login-form"), out = document.getElementById("login-error");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const button = form.querySelector("button"); button.disabled = true; out.textContent = "";
  try {
    const r = await fetch("login", {method: "POST", body: new URLSearchParams(new FormData(form)),
                                    credentials: "same-origin"});
    if (r.ok) { location.reload(); return; }
    if (r.status === 429) {
      const wait = r.headers.get("retry-after") || "?";
      out.textContent = form.dataset.wait.replace("{seconds}", wait);
    } else { out.textContent = form.dataset.wrong; }
  } catch (e) { out.textContent = form.dataset.offline; }
  button.disabled = false;
});
"""


def login_html(lang: str) -> str:
    def e(key: str, **values) -> str:
        return html.escape(t(key, lang, **values), quote=True)

    return f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Adaptune · {e("login.title")}</title><style>{LOGIN_CSS}</style></head>
<body><main><div class="brand"><span class="logo">◆</span> Adaptune</div>
<p class="hint">{e("login.hint")}</p>
<form id="login-form" data-wrong="{e("login.wrong")}" data-wait="{e("login.wait")}"
      data-offline="{e("login.offline")}">
<label for="username">{e("login.user")}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{e("login.password")}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{e("login.button")}</button>
<div id="login-error" role="alert"></div></form></main>
<script>{LOGIN_JS}</script></body></html>"""


async def _login_page(scope, send, policy: WebPolicy, headers: dict[str, str]) -> None:
    data = login_html(_page_lang(policy, headers)).encode("utf-8")
    await _with_headers(send, policy)(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(data)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send(
        {"type": "http.response.body", "body": data if scope.get("method") != "HEAD" else b""}
    )


# ---- for the callbacks ---------------------------------------------------------------------------


def hand_out(
    path: str | Path | None, grants: Grants, user: str | None, move: bool = False
) -> str | None:
    """A copy of ``path`` in the server's temporary folder that ``user`` (and only they) may
    download; what a file output returns. ``move``: the original was a scratch file, deleted
    once copied (with its folder when that is left empty). None stays None."""
    if not path:
        return None
    from gradio import processing_utils, utils

    copy = processing_utils.save_file_to_cache(str(path), cache_dir=utils.get_upload_folder())
    grants.grant(user, copy)
    if move and os.path.realpath(path) != os.path.realpath(copy):
        Path(path).unlink(missing_ok=True)
        try:
            Path(path).parent.rmdir()
        except OSError:
            pass
    return copy
