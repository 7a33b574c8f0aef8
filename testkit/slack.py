"""FakeSlack: Slack's Web API on 127.0.0.1, recording every call and answering like Slack."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    history: list[list[dict[str, Any]]] = field(default_factory=list)


class FakeSlack:
    """Answers chat.postMessage/update/postEphemeral, conversations.history/replies,
    usergroups.users.list, chat.getPermalink, views.publish, apps.connections.open, auth.test and
    response_url posts;
    `rate_limit(method, n)` answers the next n calls with 429; a token in `revoked` is refused
    (invalid_auth) wherever it is presented."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self.groups: dict[str, list[str]] = {}
        self.not_a_member: set[str] = set()  # channels the bot was never invited to
        self.revoked: set[str] = set()  # tokens Slack answers with invalid_auth
        self.home_views: dict[str, Any] = {}  # user id → the App Home view last published for them
        self.socket_url = "ws://127.0.0.1:9/unset"
        self.users_by_email: dict[str, str] = {}  # users.lookupByEmail: address (lower case) → user id
        self.failing_lookups: set[str] = set()  # addresses users.lookupByEmail answers with an error
        self.views: list[dict[str, Any]] = []  # every modal views.open opened, in order
        self.team_id = "T0REAPER"
        self._limits: dict[str, int] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._answered = threading.Condition()  # notified after each call is answered (see wait_for)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-slack", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"{self.base}/response/{name}"

    # -- test controls --------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1) -> None:
        with self._lock:
            self._limits[method] = times

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 120.0, *, what: str = "the expected call") -> Any:
        """Block until `predicate()` is truthy, re-checking it each time a call has been answered.

        The timeout only guards against a hang (a loaded machine can be slow, never this slow).
        """
        with self._answered:
            value = self._answered.wait_for(predicate, timeout)
        if not value:
            raise AssertionError(f"FakeSlack: {what} did not arrive within {timeout:.0f} s")
        return value

    def message(self, channel: str, ts: str) -> Message:
        return self.messages[(channel, ts)]

    # -- the API --------------------------------------------------------------------------

    def answer(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            return self._answer(method, params, headers)
        finally:
            with self._answered:
                self._answered.notify_all()

    def _answer(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(method, params, headers))
            left = self._limits.get(method, 0)
            if left:
                self._limits[method] = left - 1
                return 429, {"ok": False, "error": "ratelimited"}
        if method.startswith("response_url"):
            return 200, {"ok": True}
        if headers.get("authorization", "").removeprefix("Bearer ") in self.revoked:
            return 200, {"ok": False, "error": "invalid_auth"}
        if method != "apps.connections.open" and not headers.get("authorization", "").startswith("Bearer xoxb-"):
            return 200, {"ok": False, "error": "not_authed"}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}
        result: dict[str, Any] = handler(params)
        return 200, result

    def _auth_test(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "team_id": self.team_id, "user_id": "UREAPERBOT", "bot_id": "BREAPER", "url": self.base}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params["channel"])
        if channel in self.not_a_member:
            return {"ok": False, "error": "not_in_channel"}
        ts = f"{1_700_000_000 + next(self._ts)}.000100"
        message = Message(channel, ts, str(params.get("text", "")), list(params.get("blocks") or []),
                          params.get("thread_ts"))
        with self._lock:
            self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": message.text, "blocks": message.blocks}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params["channel"]), str(params["ts"]))
        with self._lock:
            message = self.messages.get(key)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.history.append(message.blocks)
            message.blocks = list(params.get("blocks") or [])
            message.text = str(params.get("text", message.text))
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _chat_postEphemeral(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": f"{1_700_000_000 + next(self._ts)}.000200"}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = str(params.get("usergroup", ""))
        if group not in self.groups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.groups[group]}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """The top-level message at exactly `latest` (thread replies are not in a channel's history)."""
        with self._lock:
            m = self.messages.get((str(params.get("channel")), str(params.get("latest"))))
        return {"ok": True, "messages": [] if m is None or m.thread_ts else [_as_json(m)]}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        """As Slack answers a first page: `ts` names the parent or any message of the thread; the
        parent always comes first, then the replies within [oldest, latest]; `limit` counts both."""
        channel = str(params.get("channel"))
        with self._lock:
            named = self.messages.get((channel, str(params.get("ts"))))
            if named is None:
                return {"ok": False, "error": "thread_not_found"}
            parent_ts = named.thread_ts or named.ts
            oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or "inf")
            inclusive = str(params.get("inclusive")).lower() in ("1", "true")
            replies = sorted(
                (m for (c, _), m in self.messages.items() if c == channel and m.thread_ts == parent_ts
                 and (oldest <= float(m.ts) <= latest if inclusive else oldest < float(m.ts) < latest)),
                key=lambda m: float(m.ts),
            )
            thread = [self.messages[(channel, parent_ts)], *replies][: int(params.get("limit") or 1000)]
        return {"ok": True, "messages": [_as_json(m) for m in thread]}

    def _users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email", "")).lower()
        if email in self.failing_lookups:
            return {"ok": False, "error": "fatal_error"}
        user = self.users_by_email.get(email)
        if user is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": {"id": user, "profile": {"email": email}}}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user", ""))
        emails = [e for e, u in self.users_by_email.items() if u == user]
        return {"ok": True, "user": {"id": user, "profile": {"email": emails[0]} if emails else {}}}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = params.get("view")
        view = json.loads(view) if isinstance(view, str) else dict(view or {})
        with self._lock:
            self.views.append(view)
        return {"ok": True, "view": {"id": f"V{len(self.views):04d}", **view}}
    def _chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel")), str(params.get("message_ts"))
        with self._lock:
            if (channel, ts) not in self.messages:
                return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel,
                "permalink": f"https://reaper-test.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        with self._lock:
            self.home_views[str(params.get("user_id"))] = view
        return {"ok": True, "view": {"id": "V0HOME", **(view or {})}}

    def _apps_connections_open(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket_url}


def _as_json(m: Message) -> dict[str, Any]:
    return {"type": "message", "ts": m.ts, "text": m.text, "blocks": m.blocks, "thread_ts": m.thread_ts}


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._serve(self.rfile.read(length))

        def _serve(self, raw: bytes) -> None:
            url = urlsplit(self.path)
            params: dict[str, Any] = {k: v[0] for k, v in parse_qs(url.query).items()}
            content_type = self.headers.get("Content-Type", "")
            if raw and content_type.startswith("application/json"):
                params.update(json.loads(raw))
            elif raw:
                params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
            for key in ("blocks", "attachments"):
                if isinstance(params.get(key), str):
                    params[key] = json.loads(params[key])
            headers = {k.lower(): v for k, v in self.headers.items()}
            if url.path.startswith("/api/"):
                method = url.path[len("/api/") :]
            elif url.path.startswith("/response/"):
                method = "response_url:" + url.path[len("/response/") :]
            else:
                self.send_error(404)
                return
            status, body = fake.answer(method, params, headers)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
