"""An agent's session with AgentWatch, through the official MCP Python SDK.

    python knowledge_client.py stdio <agentwatch binary> <repository> <auto|legacy>
    python knowledge_client.py http <http://host:port/mcp> <repository> <auto|legacy> [<token>]

`auto` lets the SDK negotiate (the 2026-07-28 protocol, no handshake); `legacy` forces the
initialize handshake and, over HTTP, a session. The environment of a stdio server is this
process's (the SDK would pass only a few variables). Every check is an assert: a failure exits non-zero with the reason.
"""

import asyncio
import os
import re
import sys
import time
import uuid

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from steps import report, step  # noqa: E402

CONTRACT_TOOLS = {
    "index_repository", "get_index_status", "list_repositories", "remove_repository",
    "search_code", "find_symbol", "get_symbol", "get_file_outline", "read_file",
    "find_references", "get_callers", "get_callees", "get_dependencies", "get_dependents",
    "analyze_impact", "get_repo_map", "run_security_scan", "get_scan_findings",
}


def text_of(result):
    return "\n".join(block.text for block in result.content if block.type == "text")


async def call(client, name, arguments, expect_error=False, **kwargs):
    result = await client.call_tool(name, arguments, **kwargs)
    assert result.is_error == expect_error, f"{name}({arguments}): {text_of(result)}"
    return result


async def session(client, repository):
    with step("The tools are listed with their documentation, schemas and hints"):
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert CONTRACT_TOOLS <= tools.keys(), f"missing tools: {CONTRACT_TOOLS - tools.keys()}"
        for tool in tools.values():
            assert tool.description and len(tool.description) > 30, f"{tool.name} is undocumented"
            assert tool.input_schema["type"] == "object"
        assert "url" in tools["index_repository"].input_schema["required"]
        assert tools["search_code"].output_schema is not None
        assert tools["remove_repository"].annotations.destructive_hint is True
        assert tools["search_code"].annotations.read_only_hint is True

    with step("Indexing reports progress and answers with the job once the structure is queryable"):
        # Indexing reports progress and answers with the job once the structure is queryable.
        progress = []

        async def on_progress(value, total, message):
            progress.append((value, total, message))

        indexed = await call(client, "index_repository", {"url": repository},
                             progress_callback=on_progress)
        job = indexed.structured_content
        assert job["status"] in ("embedding", "ready"), job
        assert job["files"] == 5 and job["symbols"] > 20, job
        assert job["repo_id"] in text_of(indexed)
        assert progress, "no progress notifications while indexing"
        assert all(total == 100 for _, total, _ in progress), progress
        # Each says the state, or the stage with its count, rate and time left once known:
        # "parsing 3/5 files, 41.2/s, about 1 s left".
        stage = re.compile(r"(queued|cloning|parsing|embedding|ready)"
                           r"|(cloning|parsing|embedding) \d+(/\d+)? (objects|files|chunks)"
                           r"(, [\d.]+/s)?(, about \d+ (s|min) left)?")
        assert all(stage.fullmatch(message) for _, _, message in progress), progress

        status = await call(client, "get_index_status", {"repo": job["repo_id"]})
        assert status.structured_content["repo_id"] == job["repo_id"]
        listed = await call(client, "list_repositories", {})
        assert [r["repo_id"] for r in listed.structured_content["repositories"]] == [job["repo_id"]]

    with step("Words find the code, in structured form with the contract's fields"):
        # Words find the code, in structured form with the contract's fields.
        found = await call(client, "search_code",
                           {"query": "price including tax", "mode": "lexical", "limit": 3})
        results = found.structured_content["results"]
        assert results and len(results) <= 3, found.structured_content
        assert results[0]["path"] == "stockroom/pricing.py", results[0]
        for field in ("repo_id", "path", "start_line", "end_line", "symbol", "kind", "score", "stale"):
            assert field in results[0], field
        assert "stockroom/pricing.py:" in text_of(found)

    with step("Names, sources, outlines and the call graph"):
        # Names, sources, outlines and the call graph.
        symbols = text_of(await call(client, "find_symbol", {"name": "price_with"}))
        assert "stockroom/pricing.py" in symbols and "price_with_tax" in symbols, symbols
        source = text_of(await call(client, "get_symbol", {"symbol": "price_with_tax"}))
        assert "round(item.total * (1 + TAX_RATE), 2)" in source, source
        callers = text_of(await call(client, "get_callers", {"symbol": "price_with_tax"}))
        assert "Inventory.total_value" in callers and "line 31" in callers, callers
        callees = text_of(await call(client, "get_callees", {"symbol": "Inventory.report"}))
        assert "Inventory.total_value" in callees, callees
        outline = text_of(await call(client, "get_file_outline", {"path": "stockroom/inventory.py"}))
        assert "class Inventory" in outline and "def add(self, item: Item) -> None" in outline
        lines = text_of(await call(client, "read_file",
                                   {"path": "stockroom/inventory.py", "start_line": 30,
                                    "end_line": 31}))
        assert "30  " in lines and "def total_value" in lines and "32  " not in lines, lines
        deps = text_of(await call(client, "get_dependencies", {"path": "stockroom/inventory.py"}))
        assert "stockroom/pricing.py" in deps and "external:logging" in deps, deps
        impact = text_of(await call(client, "analyze_impact", {"symbol": "price_with_tax"}))
        assert "Inventory.total_value" in impact and "Inventory.report" in impact, impact
        repo_map = text_of(await call(client, "get_repo_map", {"max_tokens": 200}))
        assert "stockroom/" in repo_map

    with step("Security scans"):
        # Security scans: each tool's outcome, then findings to filter and page through.
        unknown_scan = await call(client, "get_scan_findings", {"scan_id": "scan-0"}, expect_error=True)
        assert "no scan" in text_of(unknown_scan), text_of(unknown_scan)
        scan_progress = []

        async def on_scan_progress(value, total, message):
            scan_progress.append(message)

        scanned = await call(client, "run_security_scan", {"wait_seconds": 300},
                             progress_callback=on_scan_progress)
        assert scan_progress and scan_progress[0].startswith("scanning"), scan_progress
        scan = scanned.structured_content
        assert scan["status"] == "done", scan
        assert [(t["tool"], t["status"]) for t in scan["tools"]] == [("semgrep", "ok"), ("trivy", "ok"), ("checkov", "ok")], scan
        assert scan["scan_id"] in text_of(scanned)
        found = await call(client, "get_scan_findings", {"scan_id": scan["scan_id"], "severity": "info"})
        assert found.structured_content["total_findings"] == scan["total_findings"]
        bad = await call(client, "get_scan_findings", {"severity": "urgent"}, expect_error=True)
        assert "expected one of critical" in text_of(bad), text_of(bad)

    with step("Mistakes come back as tool errors that say what to do"):
        # Mistakes come back as tool errors that say what to do.
        ambiguous = await call(client, "get_symbol", {"symbol": "add"}, expect_error=True)
        assert "pass `path`" in text_of(ambiguous), text_of(ambiguous)
        missing = await call(client, "read_file", {"path": "../../etc/passwd"}, expect_error=True)
        assert "not an indexed file" in text_of(missing)
        unknown = await call(client, "get_index_status", {"repo": "nope"}, expect_error=True)
        assert "list_repositories" in text_of(unknown)
        wrong_type = await call(client, "search_code", {"query": 42}, expect_error=True)
        assert "query" in text_of(wrong_type) or "string" in text_of(wrong_type)
        try:
            await client.call_tool("no_such_tool", {})
            raise AssertionError("an unknown tool was accepted")
        except MCPError as error:
            assert "not found" in str(error).lower(), error

    with step("Indexed files are resources"):
        # Indexed files are resources.
        resources = (await client.list_resources()).resources
        uris = {str(r.uri) for r in resources}
        uri = f"agentwatch://repo/{job['repo_id']}/file/stockroom/pricing.py"
        assert uri in uris, uris
        contents = (await client.read_resource(uri)).contents
        assert "def price_with_tax" in contents[0].text
        try:
            await client.read_resource(f"agentwatch://repo/{job['repo_id']}/file/secret.env")
            raise AssertionError("a file outside the index was readable")
        except MCPError:
            pass
        templates = (await client.list_resource_templates()).resource_templates
        assert templates[0].uri_template.endswith("{repo_id}/file/{path}")

    with step("An edit to the folder is answered from without asking for a re-index"):
        # The server watches the folder it indexed: a new file reaches search and the graph.
        name = f"clearance_{uuid.uuid4().hex[:8]}"
        path = os.path.join(repository, "stockroom", f"{name}.py")
        with open(path, "w") as new_file:
            new_file.write("from stockroom.pricing import price_with_tax\n\n\n"
                           f"def {name}(item):\n    return price_with_tax(item) / 2\n")
        try:
            deadline = time.monotonic() + 30
            while True:
                found = await call(client, "search_code", {"query": name, "mode": "lexical"})
                callers = text_of(await call(client, "get_callers", {"symbol": "price_with_tax"}))
                hits = [r["symbol"] for r in found.structured_content["results"]]
                if name in hits and name in callers:
                    break
                assert time.monotonic() < deadline, f"the edit never reached the answers: {hits}"
                await asyncio.sleep(0.2)
        finally:
            os.remove(path)


async def main():
    transport, target, repository, mode = sys.argv[1:5]
    if transport == "stdio":
        server = StdioServerParameters(command=target, args=["mcp"], env=dict(os.environ))
    else:
        headers = {"Authorization": f"Bearer {sys.argv[5]}"} if len(sys.argv) > 5 else {}
        server = streamable_http_client(target, http_client=create_mcp_http_client(headers=headers))
    async with Client(server, mode=mode) as client:
        assert client.server_info.name == "agentwatch"
        await session(client, repository)
    report(f"ok: {transport} {mode}")


asyncio.run(main())
