"""Two tenants of two organizations use the knowledge server over MCP (streamable HTTP), through
the official MCP Python SDK, each with its own gateway API key.

    python tenant_client.py <http://host:port/mcp> <owner key> <outsider key> <repo id> <secret>

The repository belongs to the owner's organization and holds a planted secret: every tool that
returns its code returns it redacted, and says so. `ask_codebase` answers with citations and
reports progress. The outsider's organization cannot see the repository at all. Each behaviour is
a named step (tests/steps.py): a failure is reported under its name, and the steps after it run.
"""

import asyncio
import os
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from steps import report, step  # noqa: E402


def text_of(result):
    return "\n".join(block.text for block in result.content if block.type == "text")


def connect(url, key):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    return Client(streamable_http_client(url, http_client=http))


async def call(client, name, arguments, expect_error=False, **kwargs):
    result = await client.call_tool(name, arguments, **kwargs)
    assert result.is_error == expect_error, f"{name}({arguments}): {text_of(result)}"
    return result


async def owner(url, key, repo_id, secret):
    async with connect(url, key) as client:
        with step("the owner sees the tools and its one repository"):
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert "ask_codebase" in tools, tools
            listed = await call(client, "list_repositories", {})
            assert [r["repo_id"] for r in listed.structured_content["repositories"]] == [repo_id]

        with step("search finds the code holding the secret and returns it redacted"):
            found = await call(client, "search_code",
                               {"query": "archive invoices object store", "mode": "lexical"})
            everything = text_of(found) + str(found.structured_content)
            assert secret not in everything, "search returned the planted secret"
            assert "stockroom/archive.py" in text_of(found), text_of(found)
            assert "[REDACTED:" in everything, everything
            assert "AgentWatch redacted" in text_of(found), text_of(found)

        with step("file reads and symbol sources come redacted too"):
            read = await call(client, "read_file", {"path": "stockroom/archive.py"})
            assert secret not in text_of(read) and "[REDACTED:" in text_of(read), text_of(read)
            assert "AgentWatch redacted" in text_of(read), text_of(read)
            symbol = await call(client, "get_symbol", {"symbol": "archive_client"})
            assert secret not in text_of(symbol), text_of(symbol)
            assert "[REDACTED:" in text_of(symbol), text_of(symbol)

        with step("ask_codebase reports progress and answers with grounded citations"):
            progress = []

            async def on_progress(value, total, message):
                progress.append((value, total, message))

            asked = await call(client, "ask_codebase",
                               {"question": "How are invoices archived?"},
                               progress_callback=on_progress)
            view = asked.structured_content
            assert view["answer"], view
            assert any(c["grounded"] and c["path"] == "stockroom/archive.py"
                       for c in view["citations"]), view["citations"]
            assert any(s["path"] == "stockroom/archive.py" for s in view["sources"]), \
                view["sources"]
            # The graph around the hits: archive_invoices calls archive_client and _sign.
            reasons = {s["symbol"]: s["reason"] for s in view["sources"]}
            assert "called by archive_invoices" in reasons.get("_sign", ""), view["sources"]
            assert view["usage"]["prompt_tokens"] > 0, view
            assert secret not in text_of(asked) + str(view), "ask_codebase returned the secret"
            assert len(progress) >= 2, progress
            assert all(total == 3 for _, total, _ in progress), progress


async def outsider(url, key, repo_id):
    async with connect(url, key) as client:
        with step("another organization lists and finds nothing of it"):
            listed = await call(client, "list_repositories", {})
            assert listed.structured_content["repositories"] == [], listed.structured_content
            found = await call(client, "search_code",
                               {"query": "archive invoices object store", "mode": "lexical"})
            assert found.structured_content["results"] == [], found.structured_content

        with step("another organization naming the repository hears it does not exist"):
            for name, arguments in [
                ("read_file", {"path": "stockroom/archive.py", "repo": repo_id}),
                ("get_index_status", {"repo": repo_id}),
                ("refresh_repository", {"repo": repo_id}),
                ("ask_codebase", {"question": "How are invoices archived?", "repo": repo_id}),
            ]:
                refused = await call(client, name, arguments, expect_error=True)
                assert "no repository" in text_of(refused), text_of(refused)

        with step("another organization is offered none of its files as resources"):
            resources = await client.list_resources()
            assert resources.resources == [], resources


async def main():
    url, owner_key, outsider_key, repo_id, secret = sys.argv[1:6]
    await owner(url, owner_key, repo_id, secret)
    await outsider(url, outsider_key, repo_id)
    report("both tenants saw what they should, and only that")


asyncio.run(main())
