"""An LLM app's view of the gateway: the official `openai` SDK, pointed at AgentWatch, with two
llmock processes behind it as providers. Run by mcp-server/tests/it/gateway.rs.

    openai_client.py session GATEWAY_URL TENANT_KEY PRIMARY_MOCK_URL SECONDARY_MOCK_URL
    openai_client.py usage USAGE_ROWS_JSON

`session` exercises the API and the routing; `usage` checks, after the gateway has stopped, that
every request left its usage record (the test reads the table from whichever database the
gateway wrote to, SQLite or Postgres, into a JSON list of rows).
"""

import json
import re
import sys
import time
from pathlib import Path

import httpx
import openai

sys.path.append(str(Path(__file__).resolve().parent.parent))
from mock_provider import Mock, check  # noqa: E402
from steps import report, step  # noqa: E402

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
HELLO = [{"role": "user", "content": "Say hello to the gateway, please."}]



def session(gateway, key, primary_url, secondary_url):
    primary, secondary = Mock(primary_url), Mock(secondary_url)
    # The SDK's own retries are off: each call is one request to the gateway.
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)

    with step("Chat, not streamed"):
        # Chat, not streamed: an OpenAI-shaped answer from the first provider.
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
        reply = raw.parse()
        check(raw.headers["x-agentwatch-provider"] == "primary", raw.headers)
        check(reply.object == "chat.completion", reply)
        check(reply.choices[0].message.content == "Mock response from gpt-4o-mini.", reply)
        check(reply.usage.completion_tokens > 0, reply.usage)
        check(raw.headers.get("x-request-id"), "every answer carries a request id")

    with step("An alias"):
        # An alias: the client asks for "fast", the provider is asked for its own name for it.
        reply = client.chat.completions.create(model="fast", messages=HELLO)
        check(reply.choices[0].message.content == "Mock response from gpt-4o-mini.", reply)
        check(primary.requests()[-1]["body"]["model"] == "gpt-4o-mini", "the alias was resolved")

    with step("Every request field reaches the provider, unknown future ones too"):
        # Every request field reaches the provider, unknown future ones too.
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HELLO,
            seed=7,
            n=1,
            temperature=0.2,
            logprobs=True,
            top_logprobs=2,
            response_format={"type": "json_object"},
            extra_body={"x_future_field": {"nested": [1, 2]}},
        )
        sent = primary.requests()[-1]["body"]
        for field, value in [
            ("seed", 7),
            ("n", 1),
            ("temperature", 0.2),
            ("logprobs", True),
            ("top_logprobs", 2),
            ("response_format", {"type": "json_object"}),
            ("x_future_field", {"nested": [1, 2]}),
        ]:
            check(sent.get(field) == value, f"{field} was not passed through: {sent}")

    with step("Streamed, with usage asked for"):
        # Streamed, with usage asked for: chunks as they come, usage in the last one.
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=HELLO,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        check(text == reply.choices[0].message.content, f"streamed text {text!r}")
        check(len(chunks) > 3, f"the answer came in {len(chunks)} chunks")
        check(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0, chunks[-1])

    with step("Streamed without asking for usage"):
        # Streamed without asking for usage: the gateway asks the provider for it, and keeps the
        # usage-only chunk from a client that did not ask.
        chunks = list(
            client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
        )
        check(all(c.choices for c in chunks), "a chunk without choices reached the client")
        check(primary.requests()[-1]["body"]["stream_options"] == {"include_usage": True}, "usage")

    with step("Tools and tool_choice, answered with a tool call, streamed and not"):
        # Tools and tool_choice, answered with a tool call, streamed and not.
        reply = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL], tool_choice="auto",
        )
        call = reply.choices[0].message.tool_calls[0]
        check(reply.choices[0].finish_reason == "tool_calls", reply)
        check(call.function.name == "get_weather" and "city" in json.loads(call.function.arguments), call)
        arguments = ""
        for chunk in client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL], stream=True,
        ):
            for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                arguments += delta.function.arguments or ""
        check("city" in json.loads(arguments), f"streamed tool arguments {arguments!r}")

    with step("Anthropic and Gemini behind the same OpenAI API"):
        # Anthropic and Gemini behind the same OpenAI API: translated both ways, streams, tool calls
        # and usage included.
        for model, provider, path in [
            ("claude-sonnet-4-5", "claude", "/anthropic/v1/messages"),
            ("gemini-2.5-flash", "gemini", f"/gemini/v1beta/models/gemini-2.5-flash:generateContent"),
        ]:
            translated(client, primary, model, provider, path)

    with step("Models, aggregated over both providers"):
        # Models, aggregated over both providers; embeddings.
        models = {m.id: m.owned_by for m in client.models.list()}
        check({"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"} <= set(models), models)
        vectors = client.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
        check(len(vectors.data) == 2 and len(vectors.data[0].embedding) == 1536, "embeddings")

    with step("Clients that cannot set a bearer token send the key as X-Api-Key"):
        # Clients that cannot set a bearer token send the key as X-Api-Key.
        r = httpx.post(f"{gateway}/v1/chat/completions", headers={"X-Api-Key": key},
                       json={"model": "gpt-4o-mini", "messages": HELLO})
        check(r.status_code == 200 and r.json()["object"] == "chat.completion", r.text)

    with step("Errors come as the SDK's own exception types"):
        # Errors come as the SDK's own exception types.
        expect_error(
            openai.AuthenticationError, 401,
            lambda: openai.OpenAI(base_url=f"{gateway}/v1", api_key="aw-nobody", max_retries=0)
            .chat.completions.create(model="gpt-4o-mini", messages=HELLO),
        )
        expect_error(
            openai.BadRequestError, 400,
            lambda: client.chat.completions.create(model="gpt-4o-mini", messages=[]),
        )
        # A provider's 400 is the client's to fix: passed on, not retried elsewhere.
        before = len(secondary.requests())
        primary.script({"type": "fail", "status": 400, "message": "max_tokens is too large", "times": 1})
        err = expect_error(
            openai.BadRequestError, 400,
            lambda: client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=10**9),
        )
        check("max_tokens is too large" in str(err), err)
        check(len(secondary.requests()) == before, "a 400 was retried on another provider")

    with step("Failover"):
        # Failover: the first provider fails, the second answers (a provider that is down is left
        # at once, though it has a second key).
        primary.script({"type": "fail", "status": 503, "times": 1})
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
        check(raw.headers["x-agentwatch-provider"] == "secondary", raw.headers)
        check(raw.headers["x-agentwatch-attempts"] == "2", raw.headers)

    with step("Both down"):
        # Both down: 502, as the SDK's InternalServerError.
        primary.script({"type": "fail", "status": 500, "times": 5})
        secondary.script({"type": "fail", "status": 500, "times": 5})
        expect_error(
            openai.InternalServerError, 502,
            lambda: client.chat.completions.create(model="gpt-4o-mini", messages=HELLO),
        )
        primary.clear()
        secondary.clear()

    with step("The circuit breaker"):
        # The circuit breaker (2 failures open it for 2 s in this gateway's config). The failures
        # above opened it: after the pause, one trial request closes it again.
        check(circuit(gateway, "primary") == "open", "the failures above open the breaker")
        wait_for_circuit(gateway, "primary", "half_open")
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        check(circuit(gateway, "primary") == "closed", "a good trial closes the breaker")
        # Once open, the first provider is not even tried.
        primary.script({"type": "fail", "status": 500, "times": None})
        for _ in range(2):
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
            check(raw.headers["x-agentwatch-provider"] == "secondary", raw.headers)
        check(circuit(gateway, "primary") == "open", "two failures open the breaker")
        tried = len(primary.requests())
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
        check(raw.headers["x-agentwatch-attempts"] == "1", "an open breaker skips the provider")
        check(len(primary.requests()) == tried, "a request reached a provider whose breaker is open")
        primary.clear()
        wait_for_circuit(gateway, "primary", "half_open")
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
        check(raw.headers["x-agentwatch-provider"] == "primary", "the trial goes to the recovered one")
        check(circuit(gateway, "primary") == "closed", "a good trial closes the breaker")

    with step("A stream that breaks after its first bytes is not retried"):
        # A stream that breaks after its first bytes is not retried: the client sees the error.
        primary.script({"type": "stream_fault", "kind": "disconnect", "after_chunks": 2, "times": 1})
        before = len(secondary.requests())
        try:
            for _ in client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True):
                pass
            raise AssertionError("a broken stream ended as if it were complete")
        except openai.APIError as e:
            check("broke off" in str(e), e)
        check(len(secondary.requests()) == before, "a started stream was retried")

    with step("A client that leaves mid-stream cancels the provider's request"):
        # A client that leaves mid-stream cancels the provider's request.
        primary.script({"type": "stream_fault", "kind": "stall", "after_chunks": 1, "stall_seconds": 30, "times": 1})
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
        next(iter(stream))
        stream.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            last = primary.requests()[-1]
            if last.get("ended_at"):
                break
            time.sleep(0.2)
        check(last.get("ended_at") and last["duration"] < 15, f"the provider kept streaming: {last}")

    with step("A client that gives up before the answer is still accounted for"):
        # A client that gives up before the answer is still accounted for (499).
        primary.script({"type": "delay", "seconds": 3, "times": 1})
        try:
            httpx.post(f"{gateway}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                       json={"model": "gpt-4o-mini", "messages": HELLO}, timeout=0.5)
            raise AssertionError("the delayed answer came early")
        except httpx.TimeoutException:
            pass

    with step("Prometheus metrics"):
        # Prometheus metrics: requests by tenant, model and status; circuit states.
        metrics = httpx.get(f"{gateway}/metrics").text
        check(re.search(r'agentwatch_gateway_requests_total\{tenant="\d+",model="gpt-4o-mini",status="200"\} \d+', metrics), metrics)
        check('agentwatch_gateway_provider_circuit_state{provider="primary"} 0' in metrics, metrics)
        check("agentwatch_gateway_time_to_first_token_seconds_bucket" in metrics, metrics)
        check('agentwatch_gateway_tokens_total{tenant="1",model="claude-sonnet-4-5",kind="completion"}' in metrics, metrics)

    report("session ok")


def translated(client, mock, model, provider, path):
    brief = [{"role": "system", "content": "Be brief."}] + HELLO
    raw = client.chat.completions.with_raw_response.create(model=model, messages=brief, max_tokens=100)
    reply = raw.parse()
    check(raw.headers["x-agentwatch-provider"] == provider, raw.headers)
    check(reply.object == "chat.completion", reply)
    check(reply.choices[0].message.content == f"Mock response from {model}.", reply)
    check(reply.choices[0].finish_reason == "stop", reply)
    check(reply.usage.completion_tokens > 0, reply.usage)
    received = mock.requests()[-1]
    check(received["path"] == path, received["path"])
    body = received["body"]
    if provider == "claude":
        check(body["system"] == "Be brief." and body["max_tokens"] == 100, body)
    else:
        check(body["systemInstruction"]["parts"][0]["text"] == "Be brief.", body)
        check(body["generationConfig"]["maxOutputTokens"] == 100, body)

    chunks = list(client.chat.completions.create(
        model=model, messages=brief, stream=True, stream_options={"include_usage": True},
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check(text == reply.choices[0].message.content, f"{provider} streamed {text!r}")
    check(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0, chunks[-1])
    check(any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks), "finish reason")

    ask = [{"role": "user", "content": "Weather in Paris?"}]
    reply = client.chat.completions.create(model=model, messages=ask, tools=[WEATHER_TOOL])
    call = reply.choices[0].message.tool_calls[0]
    check(reply.choices[0].finish_reason == "tool_calls", reply)
    check(call.function.name == "get_weather" and "city" in json.loads(call.function.arguments), call)
    # The tool's result goes back, and the model answers in text.
    answer = client.chat.completions.create(
        model=model,
        tools=[WEATHER_TOOL],
        messages=ask + [
            reply.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
        ],
    )
    check(answer.choices[0].message.content, f"{provider} answered the tool result: {answer}")
    arguments, names = "", []
    for chunk in client.chat.completions.create(model=model, messages=ask, tools=[WEATHER_TOOL], stream=True):
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            arguments += delta.function.arguments or ""
            names += [delta.function.name] if delta.function.name else []
    check(names == ["get_weather"] and "city" in json.loads(arguments), f"{provider} streamed {names} {arguments!r}")


def expect_error(kind, status, call):
    try:
        call()
    except kind as e:
        check(e.status_code == status, f"{kind.__name__} with status {e.status_code}")
        body = e.body if isinstance(e.body, dict) else {}
        check("message" in body and "type" in body and "code" in body, f"OpenAI error shape: {e.body}")
        return e
    raise AssertionError(f"expected {kind.__name__}")


def circuit(gateway, name):
    health = httpx.get(f"{gateway}/health").json()
    return next(p["circuit"] for p in health["providers"] if p["name"] == name)


def wait_for_circuit(gateway, name, state):
    deadline = time.time() + 10
    while circuit(gateway, name) != state:
        check(time.time() < deadline, f"{name}'s circuit never became {state}")
        time.sleep(0.1)


def usage(rows_json):
    """Checks the usage rows the gateway recorded (a JSON list of the table's rows, in order)."""
    rows = json.loads(Path(rows_json).read_text())
    by_status = {}
    for r in rows:
        by_status.setdefault(r["status"], []).append(r)
    ok = by_status.get(200, [])
    check(len(ok) >= 15, f"{len(ok)} successful requests recorded")
    for r in ok:
        check(r["tenant_id"] is not None and r["provider"] in ("primary", "secondary", "claude", "gemini"), dict(r))
        check(r["latency_ms"] >= 0 and r["request_id"], dict(r))
    chats = [r for r in ok if r["endpoint"] == "chat.completions" and r["model"] == "gpt-4o-mini"]
    check(all(r["cost_usd"] > 0 for r in chats), "gpt-4o-mini requests have a cost")
    streamed = [r for r in ok if r["streamed"]]
    check(streamed and all(r["ttft_ms"] is not None for r in streamed), "streams have a TTFT")
    check(all(r["tokens_source"] == "provider" for r in streamed), "stream usage from the provider")
    check(any(r["attempts"] == 2 and r["provider"] == "secondary" for r in ok), "failover recorded")
    check(any(r["endpoint"] == "embeddings" for r in ok), "embeddings recorded")
    for provider in ("claude", "gemini"):
        mine = [r for r in ok if r["provider"] == provider]
        check(len(mine) == 5 and all(r["completion_tokens"] > 0 for r in mine), f"{provider}: {mine}")
        check(all(r["cost_usd"] > 0 for r in mine), f"{provider} requests are priced")
    statuses = {s: len(v) for s, v in by_status.items()}
    check(len(by_status.get(502, [])) >= 2, f"the 502 and the broken stream are recorded: {statuses}")
    left = by_status.get(499, [])
    check(len(left) == 2, f"the stream and the request the clients left are 499s: {statuses}")
    check(any(r["streamed"] for r in left) and any(not r["streamed"] for r in left), "both kinds")
    # A stream that broke before its usage chunk is counted with the tokenizer.
    broken = [r for r in by_status[502] if r["streamed"]]
    check(len(broken) == 1 and broken[0]["tokens_source"] == "tokenizer", [dict(r) for r in broken])
    check(broken[0]["prompt_tokens"] > 0 and broken[0]["completion_tokens"] > 0, dict(broken[0]))
    check(len(by_status.get(400, [])) == 2, "the two 400s are recorded")
    check(401 not in by_status, "a request with no tenant is not a tenant's usage")
    print(f"usage ok: {len(rows)} records")


if __name__ == "__main__":
    if sys.argv[1] == "session":
        session(*sys.argv[2:6])
    else:
        usage(sys.argv[2])
