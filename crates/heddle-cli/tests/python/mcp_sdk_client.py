"""The official MCP Python SDK (PyPI `mcp`) against a real Heddle.

Run by `crates/heddle-cli/tests/it/mcp.rs`, which starts `heddle serve`, sets up an agent
acting as a declared service user, and passes what this script needs in the environment:

  HEDDLE_TEST_MCP_URL          the streamable HTTP endpoint, /mcp/dev/<agent>
  HEDDLE_TEST_MCP_KEY          an API key (bearer) of the tenant
  HEDDLE_TEST_MCP_BASE         the server's base URL, for the approver's REST call
  HEDDLE_TEST_MCP_ADMIN_TOKEN  an admin's access token (the approver)
  HEDDLE_TEST_MCP_BIN          the heddle binary, for `heddle mcp` over stdio
  HEDDLE_TEST_MCP_DIR          its working directory (where heddle-data lives)
  HEDDLE_TEST_MCP_ACCOUNT      an account id the service user may read

It checks, over streamable HTTP with the protocol revision the SDK negotiates by default
(stateless) and with the legacy handshake (sessions): the tool list (schemas, bound inputs
absent, Heddle's own tools), a call and its content, a schema refusal, a call that needs
approval (pending state), its approval by an admin over REST and its result through
`heddle-action-status`; then the same server over stdio. Exits non-zero on any failure.
"""

import asyncio
import json
import os
import sys
import urllib.request

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ENV = os.environ
URL = ENV["HEDDLE_TEST_MCP_URL"]
KEY = ENV["HEDDLE_TEST_MCP_KEY"]
ACCOUNT = ENV["HEDDLE_TEST_MCP_ACCOUNT"]

EXPECTED_TOOLS = [
    "show_account",
    "list_owned_accounts",
    "retitle_account",
    "heddle-action-status",
    "heddle-confirm",
]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def http_client(mode):
    """`auto` negotiates the newest revision (stateless requests); `legacy` forces the
    initialize handshake and an MCP session."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {KEY}"})
    return Client(streamable_http_client(URL, http_client=http), mode=mode)


def text_of(result):
    return "".join(block.text for block in result.content if block.type == "text")


async def list_and_check(client):
    tools = (await client.list_tools()).tools
    names = [tool.name for tool in tools]
    check(names == EXPECTED_TOOLS, f"tools: {names}")
    owned = next(tool for tool in tools if tool.name == "list_owned_accounts")
    properties = owned.input_schema.get("properties", {})
    check(list(properties) == ["industry"], f"bound input shown: {owned.input_schema}")
    check(owned.input_schema.get("required") == ["industry"], f"{owned.input_schema}")
    check(owned.annotations.read_only_hint is True, f"{owned.annotations}")
    retitle = next(tool for tool in tools if tool.name == "retitle_account")
    check("approve" in retitle.description, retitle.description)
    return tools


async def show(client):
    result = await client.call_tool("show_account", {"account_id": ACCOUNT})
    check(result.is_error is False, f"show_account failed: {text_of(result)}")
    check("Alpine" in text_of(result), text_of(result))
    # Each HTTP pass renames it (`Alpine auto`, `Alpine legacy`) once approved.
    check(
        result.structured_content["record"]["fields"]["Name"].startswith("Alpine"),
        f"{result.structured_content}",
    )
    check("heddle/execution_id" in (result.meta or {}), f"meta: {result.meta}")
    return result


async def http_flow(mode):
    async with http_client(mode) as client:
        await list_and_check(client)
        await show(client)

        refused = await client.call_tool("show_account", {"account_id": "not an id"})
        check(refused.is_error is True, f"a schema violation ran: {text_of(refused)}")
        check(text_of(refused).startswith("refused (schema)"), text_of(refused))

        new_name = f"Alpine {mode}"
        held = await client.call_tool(
            "retitle_account", {"account_id": ACCOUNT, "name": new_name}
        )
        check(held.is_error is False, f"held call reported as error: {text_of(held)}")
        pending = held.structured_content
        check(pending["status"] == "awaiting_approval", f"{pending}")
        check(pending.get("confirmation_token") is None, f"{pending}")
        check(pending["approver_role"] == "admin", f"{pending}")
        action_id = pending["action_id"]

        status = await client.call_tool("heddle-action-status", {"action_id": action_id})
        check(status.structured_content["status"] == "awaiting_approval", f"{status}")

        approve(action_id)

        done = await client.call_tool("heddle-action-status", {"action_id": action_id})
        followed = done.structured_content
        check(followed["status"] == "completed", f"{followed}")
        check(followed["result"]["is_error"] is False, f"{followed}")
        check(
            followed["result"]["content"]["updated"]["fields"]["Name"] == new_name,
            f"{followed}",
        )

        unknown = None
        try:
            await client.call_tool("drop_tables", {})
        except Exception as error:  # the SDK raises the JSON-RPC error
            unknown = error
        check(unknown is not None, "an unknown tool did not fail")
        print(f"ok: streamable HTTP ({mode}, protocol {client.protocol_version})")


def approve(action_id):
    request = urllib.request.Request(
        f"{ENV['HEDDLE_TEST_MCP_BASE']}/v1/approvals/{action_id}/approve",
        data=json.dumps({"comment": "approved by the MCP SDK test"}).encode(),
        headers={
            "Authorization": f"Bearer {ENV['HEDDLE_TEST_MCP_ADMIN_TOKEN']}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        decided = json.load(response)
    check(decided["action"]["status"] == "completed", f"{decided}")


async def stdio_flow():
    server = StdioServerParameters(
        command=ENV["HEDDLE_TEST_MCP_BIN"],
        args=["mcp", "--env", "dev", "--agent", "desk"],
        env={
            "HEDDLE_API_KEY": KEY,
            "HEDDLE_LOG__LEVEL": "warn",
            "PATH": ENV.get("PATH", ""),
        },
        cwd=ENV["HEDDLE_TEST_MCP_DIR"],
    )
    async with Client(server) as client:
        await list_and_check(client)
        await show(client)
        owned = await client.call_tool("list_owned_accounts", {"industry": "Finance"})
        check(owned.is_error is False, text_of(owned))
        names = [r["fields"]["Name"] for r in owned.structured_content["records"]]
        check(names == ["Cobalt"], f"{owned.structured_content}")
        print(f"ok: stdio (protocol {client.protocol_version})")


async def main():
    for mode in ["auto", "legacy"]:
        await http_flow(mode)
    await stdio_flow()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as error:
        print(f"FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        raise
