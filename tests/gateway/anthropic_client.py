"""Claude Code's view of the gateway: the official `anthropic` SDK pointed at AgentWatch (as
`ANTHROPIC_BASE_URL` points Claude Code), with llmock behind it as an Anthropic provider. Run by
mcp-server/tests/it/gateway.rs.

    anthropic_client.py session GATEWAY_URL TENANT_KEY POOR_TENANT_KEY MOCK_URL

The providers: `claude` (Anthropic, `claude-*`), `openai` (OpenAI, `gpt-*`, and
`claude-haiku-4-5` as an alias of `gpt-4o-mini`, behind `claude`) and `gemini` (Google,
`gemini-*`), all the one llmock. The tenant's policy blocks AWS keys and masks email addresses;
the poor tenant's budget is a hundredth of a cent.
"""

import sys
from pathlib import Path

import anthropic

sys.path.append(str(Path(__file__).resolve().parent.parent))
from mock_provider import Mock, check  # noqa: E402
from steps import report, step  # noqa: E402

MODEL = "claude-sonnet-4-5"
HELLO = [{"role": "user", "content": "Say hello to the gateway, please."}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
EMAIL = "jane.doe@example.com"
AWS_KEY = "AKIAZ7QW3ERT5YUI2OPL"



def expect(error_type, status, call):
    try:
        call()
    except error_type as e:
        check(e.status_code == status, f"{e.status_code} != {status}: {e}")
        check(e.body["type"] == "error" if isinstance(e.body, dict) else False, e.body)
        return e
    raise AssertionError(f"expected {error_type.__name__} {status}")


def session(gateway, key, poor_key, mock_url):
    mock = Mock(mock_url)
    # The SDK's own retries are off: each call is one request to the gateway.
    client = anthropic.Anthropic(base_url=gateway, api_key=key, max_retries=0)

    with step("A message"):
        raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=256, messages=HELLO)
        message = raw.parse()
        check(raw.headers["x-agentwatch-provider"] == "claude", raw.headers)
        check(message.type == "message" and message.role == "assistant", message)
        check(message.content[0].type == "text" and message.content[0].text, message)
        check(message.usage.input_tokens > 0 and message.usage.output_tokens > 0, message.usage)
        check(mock.last_body()["model"] == MODEL, mock.last_body())

    with step("A stream with a tool call"):
        mock.script({
            "type": "reply",
            "text": "Let me look that up.",
            "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
        })
        kinds = []
        with client.messages.stream(
            model=MODEL, max_tokens=256, tools=[WEATHER_TOOL],
            messages=[{"role": "user", "content": "Weather in Paris?"}],
        ) as stream:
            for event in stream:
                kinds.append(event.type)
            final = stream.get_final_message()
        for kind in ["message_start", "content_block_start", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]:
            check(kind in kinds, f"{kind} not in {kinds}")
        calls = [b for b in final.content if b.type == "tool_use"]
        check(len(calls) == 1 and calls[0].name == "get_weather", final)
        check(calls[0].input == {"city": "Paris"}, calls[0])
        check(final.stop_reason == "tool_use", final)
        check(final.usage.output_tokens > 0, final.usage)

    with step("The tool's result goes back, with cache breakpoints and a system prompt"):
        system = [{"type": "text", "text": "You are a weather bot.", "cache_control": {"type": "ephemeral"}}]
        turn = [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look that up."},
                {"type": "tool_use", "id": calls[0].id, "name": "get_weather", "input": {"city": "Paris"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": calls[0].id, "content": "18 degrees, sunny",
                 "cache_control": {"type": "ephemeral"}},
            ]},
        ]
        message = client.messages.create(
            model=MODEL, max_tokens=256, system=system, tools=[WEATHER_TOOL], messages=turn,
            extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
        )
        check(message.content[0].text, message)
        sent = mock.last_body()
        check(sent["system"] == system, sent["system"])
        check(sent["messages"] == turn, sent["messages"])
        check(sent["tools"] == [WEATHER_TOOL], sent["tools"])

    with step("A secret the policy blocks: the SDK's BadRequestError, nothing sent"):
        before = len(mock.requests())
        error = expect(anthropic.BadRequestError, 400, lambda: client.messages.create(
            model=MODEL, max_tokens=64,
            messages=[{"role": "user", "content": f"deploy with {AWS_KEY}"}]))
        check(error.body["error"]["type"] == "invalid_request_error", error.body)
        check("aws_access_key" in str(error) and AWS_KEY not in str(error), error)
        check(len(mock.requests()) == before, "the blocked message reached the provider")

    with step("An address masked on the way out and restored in the stream"):
        mock.script({"type": "reply", "text": "I will write to [EMAIL_1] today."})
        with client.messages.stream(
            model=MODEL, max_tokens=64,
            messages=[{"role": "user", "content": f"please email {EMAIL} the report"}],
        ) as stream:
            text = "".join(stream.text_stream)
        check(text == f"I will write to {EMAIL} today.", text)
        sent = str(mock.last_body())
        check(EMAIL not in sent and "[EMAIL_1]" in sent, sent)

    for model, provider in [("gpt-4o-mini", "openai"), ("gemini-2.5-flash", "gemini")]:
        with step(f"A message and a stream with a tool call, translated for {provider}"):
            raw = client.messages.with_raw_response.create(model=model, max_tokens=256, messages=HELLO)
            message = raw.parse()
            check(raw.headers["x-agentwatch-provider"] == provider, raw.headers)
            check(message.content[0].text == f"Mock response from {model}.", message)
            check(message.stop_reason == "end_turn" and message.usage.output_tokens > 0, message)
            mock.script({
                "type": "reply",
                "text": "Let me look that up.",
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
            })
            with client.messages.stream(
                model=model, max_tokens=256, tools=[WEATHER_TOOL],
                messages=[{"role": "user", "content": "Weather in Paris?"}],
            ) as stream:
                text = "".join(stream.text_stream)
                final = stream.get_final_message()
            check(text == "Let me look that up.", text)
            calls = [b for b in final.content if b.type == "tool_use"]
            check(len(calls) == 1 and calls[0].input == {"city": "Paris"}, final)
            check(final.stop_reason == "tool_use", final)
            check(final.usage.output_tokens > 0, final.usage)

    with step("count_tokens for a model an OpenAI provider serves: the gateway's own count"):
        short = client.messages.count_tokens(model="gpt-4o-mini", messages=HELLO).input_tokens
        long = client.messages.count_tokens(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "many words " * 200}]).input_tokens
        check(0 < short < long, (short, long))

    with step("A failing Anthropic provider gives way to an OpenAI one"):
        mock.script({"type": "fail", "status": 500, "times": 1})
        raw = client.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=64, messages=HELLO)
        check(raw.headers["x-agentwatch-provider"] == "openai", raw.headers)
        check(raw.headers["x-agentwatch-attempts"] == "2", raw.headers)
        check(raw.parse().content[0].text == "Mock response from gpt-4o-mini.", raw.parse())

    with step("A budget refusal, in Anthropic's error shape"):
        poor = anthropic.Anthropic(base_url=gateway, api_key=poor_key, max_retries=0)
        error = expect(anthropic.APIStatusError, 402, lambda: poor.messages.create(
            model=MODEL, max_tokens=4096, messages=HELLO))
        check(error.body["error"]["type"] == "billing_error", error.body)
        check("budget" in error.body["error"]["message"], error.body)

    with step("A wrong key: the SDK's AuthenticationError"):
        stranger = anthropic.Anthropic(base_url=gateway, api_key="sk-ant-not-a-tenant", max_retries=0)
        expect(anthropic.AuthenticationError, 401,
               lambda: stranger.messages.create(model=MODEL, max_tokens=16, messages=HELLO))

    report("anthropic sdk session ok")


if __name__ == "__main__":
    if sys.argv[1] != "session":
        raise SystemExit(__doc__)
    session(*sys.argv[2:6])
