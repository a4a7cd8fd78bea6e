"""Drives `mnemo mcp` over stdio with the official `mcp` Python client.

Usage: mcp_client_check.py MNEMO_BINARY STORE_DIR CHAT_MODEL [--no-model]
Lists the tools (and their JSON Schemas), then calls each: memory_add, memory_search, ask, calculator, sql_query
(on a small database this script makes) and memory_delete. With --no-model, CHAT_MODEL is not installed:
every tool but ask must work, and ask must come back as a tool error naming the model (the model is
loaded on first use only). Exits non-zero with the failing check's message; prints one line per check.
"""
import asyncio
import os
import sqlite3
import sys
import tempfile

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

binary, store, chat_model = sys.argv[1], sys.argv[2], sys.argv[3]
no_model = "--no-model" in sys.argv[4:]
checks = 0


def check(name, condition, detail=""):
    global checks
    if not condition:
        print(f"FAIL {name}: {detail}", flush=True)
        sys.exit(1)
    checks += 1
    print(f"ok   {name}", flush=True)


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def main():
    db = os.path.join(tempfile.mkdtemp(), "shop.sqlite")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total_cents INTEGER)")
        conn.executemany("INSERT INTO orders (total_cents) VALUES (?)", [(1250,), (899,), (4000,)])

    params = StdioServerParameters(command=binary, args=["mcp", "--store", store, "--model", chat_model, "--db", db],
                                   env={**os.environ})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check("initialize", init.server_info.name == "mnemo", init.server_info)

            tools = {t.name: t for t in (await session.list_tools()).tools}
            expected = {"memory_search", "memory_add", "memory_delete", "ask", "calculator", "sql_query"}
            check("list tools", set(tools) == expected, sorted(tools))
            for name, tool in tools.items():
                schema = tool.input_schema
                check(f"{name} has a JSON Schema", schema.get("type") == "object" and "properties" in schema, schema)
            check("memory_search requires query", tools["memory_search"].input_schema.get("required") == ["query"])

            r = await session.call_tool("memory_add", {"text": "The spare key is under the blue flowerpot by the shed.",
                                                       "source": "notes/key.md", "metadata": {"topic": "house"}})
            check("memory_add", not r.is_error and "notes/key.md" in text_of(r), text_of(r))
            r = await session.call_tool("memory_search", {"query": "where is the spare key", "k": 3})
            hits = (r.structured_content or {}).get("results", [])
            check("memory_search", not r.is_error and hits and hits[0]["source"] == "notes/key.md", text_of(r))
            r = await session.call_tool("ask", {"question": "Where is the spare key?", "k": 1, "max_tokens": 24})
            if no_model:
                check("ask without the model is a tool error", r.is_error and chat_model in text_of(r), text_of(r))
            else:
                check("ask", not r.is_error and len(text_of(r).strip()) > 0 and "notes/key.md" in text_of(r), text_of(r))
            r = await session.call_tool("calculator", {"expression": "2^100 / 4"})
            check("calculator", not r.is_error and text_of(r).strip() == "316912650057057350374175801344", text_of(r))
            check("calculator's structured result", (r.structured_content or {}).get("exact") is True, r.structured_content)
            r = await session.call_tool("calculator", {"expression": "1/0"})
            check("calculator error is a tool error", r.is_error, text_of(r))
            check("sql_query describes the database's tables", "orders" in (tools["sql_query"].description or ""), tools["sql_query"].description)
            r = await session.call_tool("sql_query", {"query": "SELECT count(*) AS n, sum(total_cents) AS cents FROM orders"})
            rows = (r.structured_content or {}).get("rows")
            check("sql_query", not r.is_error and rows == [[3, 6149]], text_of(r))
            r = await session.call_tool("sql_query", {"query": "DELETE FROM orders"})
            check("sql_query refuses writes", r.is_error, text_of(r))
            r = await session.call_tool("calculator", {"expression": "1 + 1", "digits": 3})
            check("arguments outside the schema are a tool error", r.is_error and "digits" in text_of(r), text_of(r))
            r = await session.call_tool("memory_delete", {"source": "notes/key.md"})
            check("memory_delete", not r.is_error, text_of(r))
            r = await session.call_tool("memory_search", {"query": "spare key flowerpot", "mode": "bm25"})
            check("deleted text is gone", not (r.structured_content or {}).get("results"), text_of(r))
            r = await session.call_tool("memory_search", {"k": 3})
            check("missing argument is a tool error", r.is_error and "query" in text_of(r), text_of(r))
    print(f"mcp client check: all {checks} checks ok", flush=True)


asyncio.run(main())
