"""A bare HTTP/1.1 keep-alive server that answers every request with the same recorded answer (bytes in a file):
the baseline of `macro_http.py`, i.e. what its load generator gets through loopback from a server that does no
work at all. One asyncio process, like the generator.

    python benchmarks/canned_server.py ANSWER_FILE PORT
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


async def serve(answer: bytes, port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        await reader.readexactly(int(line[15:]))
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]).read_bytes(), int(sys.argv[2])))
