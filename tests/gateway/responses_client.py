"""Codex's view of the gateway: the official `openai` SDK's Responses API pointed at AgentWatch,
with llmock behind it as an OpenAI provider (which serves the Responses API itself), an Anthropic
one and a Gemini one (which the gateway translates for). Run by mcp-server/tests/it/gateway.rs.

    responses_client.py session GATEWAY_URL TENANT_KEY POOR_TENANT_KEY MOCK_URL

The providers: `openai` (`gpt-*`), `claude` (`claude-*`) and `gemini` (`gemini-*`), all the one
llmock. The tenant's policy masks email addresses; the poor tenant's budget is a hundredth of a
cent.
"""

import sys
from pathlib import Path

import openai

sys.path.append(str(Path(__file__).resolve().parent.parent))
from mock_provider import Mock, check  # noqa: E402
from steps import report, step  # noqa: E402

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
EMAIL = "jane.doe@example.com"



def session(gateway, key, poor_key, mock_url):
    mock = Mock(mock_url)
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)

    for model, provider in [("gpt-4o-mini", "openai"), ("claude-sonnet-4-5", "claude"),
                            ("gemini-2.5-flash", "gemini")]:
        with step(f"A response and a stream with a function call, from {provider}"):
            raw = client.responses.with_raw_response.create(model=model, input="Say hello.")
            response = raw.parse()
            check(raw.headers["x-agentwatch-provider"] == provider, raw.headers)
            check(response.status == "completed", response)
            check(response.output_text.startswith("Mock response from"), response.output_text)
            check(response.usage.output_tokens > 0, response.usage)
            mock.script({
                "type": "reply",
                "text": "Let me look that up.",
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
            })
            kinds = []
            with client.responses.stream(model=model, input="Weather in Paris?", tools=[WEATHER_TOOL]) as stream:
                for event in stream:
                    kinds.append(event.type)
                final = stream.get_final_response()
            for kind in ["response.created", "response.output_text.delta",
                         "response.function_call_arguments.delta", "response.completed"]:
                check(kind in kinds, f"{kind} not in {kinds}")
            calls = [item for item in final.output if item.type == "function_call"]
            check(len(calls) == 1 and calls[0].name == "get_weather", final.output)
            check(calls[0].arguments and '"Paris"' in calls[0].arguments, calls[0])
            check(final.output_text == "Let me look that up.", final.output_text)

    with step("A function's result goes back, translated as a tool message"):
        response = client.responses.create(
            model="claude-sonnet-4-5", tools=[WEATHER_TOOL],
            input=[
                {"role": "user", "content": "Weather in Paris?"},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather",
                 "arguments": '{"city": "Paris"}'},
                {"type": "function_call_output", "call_id": "call_1", "output": "18 degrees"},
            ],
        )
        check(response.output_text, response)
        sent = mock.requests()[-1]["body"]
        results = [b for m in sent["messages"] for b in (m["content"] if isinstance(m["content"], list) else [])
                   if b.get("type") == "tool_result"]
        check(results and results[0]["tool_use_id"] == "call_1", sent["messages"])

    with step("Continuing a response where no provider keeps them: a 400 saying so"):
        try:
            client.responses.create(model="claude-sonnet-4-5", input="go on", previous_response_id="resp_1")
            raise AssertionError("previous_response_id was accepted")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and "openai" in str(e), e)

    with step("An address masked on the way out and restored in a translated stream"):
        mock.script({"type": "reply", "text": "I will write to [EMAIL_1] today."})
        with client.responses.stream(model="claude-sonnet-4-5", input=f"please email {EMAIL}") as stream:
            text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
            final = stream.get_final_response()
        check(text == f"I will write to {EMAIL} today.", text)
        check(final.output_text == text, final.output_text)
        sent = str(mock.requests()[-1]["body"])
        check(EMAIL not in sent and "[EMAIL_1]" in sent, sent)

    with step("A budget refusal"):
        poor = openai.OpenAI(base_url=f"{gateway}/v1", api_key=poor_key, max_retries=0)
        try:
            poor.responses.create(model="gpt-4o", input="hi", max_output_tokens=100000)
            raise AssertionError("the budget let it through")
        except openai.APIStatusError as e:
            check(e.status_code == 402 and e.body["code"] == "budget_exceeded", e.body)

    report("responses session ok")


if __name__ == "__main__":
    if sys.argv[1] != "session":
        raise SystemExit(__doc__)
    session(*sys.argv[2:6])
