"""`RustCourier` (app/outbox/rust_courier.py) against a real loopback HTTP/1.1 keep-alive server: many concurrent
sends each get their own answer over a few pooled connections; timeouts, refused connections, bad requests and
closing come back as error `Answer`s."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.outbox.courier import Answer, Courier, Outbound
from app.outbox.rust_courier import RustCourier
from tests.service import free_port


class Receiver:
    """Answers every request with an OCPI envelope echoing the method, body and X-Request-ID; `/slow/<ms>` waits
    that long first. Counts connections and the most requests in flight at once."""

    def __init__(self) -> None:
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                if path.startswith("/slow/"):
                    await asyncio.sleep(int(path.removeprefix("/slow/")) / 1000)
                self.in_flight -= 1
                answer = json.dumps({"status_code": 1000, "data": {
                    "method": method, "body": body.decode(), "request_id": headers.get("x-request-id")}}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nVia: a\r\nVia: b\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def receiving() -> AsyncIterator[tuple[str, Receiver]]:
    receiver = Receiver()
    port = free_port()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}", receiver
    finally:
        server.close()


def put(url: str, n: int) -> Outbound:
    return Outbound("PUT", url, [("X-Request-ID", f"r{n}"), ("Content-Type", "application/json")], b'{"n": %d}' % n)


def test_many_concurrent_sends_share_a_few_connections() -> None:
    async def main() -> list[Answer]:
        async with receiving() as (base, receiver):
            courier: Courier = RustCourier(max_connections_per_host=8, timeout_s=10)
            try:
                answers = await asyncio.gather(*(courier.send(put(f"{base}/locations/NL/EXA/{n}", n), 10)
                                                 for n in range(600)))
            finally:
                await courier.aclose()
            assert receiver.max_in_flight <= 8 and receiver.connections <= 8, (receiver.max_in_flight,
                                                                              receiver.connections)
            return answers

    answers = asyncio.run(main())
    for n, answer in enumerate(answers):
        assert answer.error is None and answer.http_status == 200
        assert json.loads(answer.body)["data"] == {"method": "PUT", "body": '{"n": %d}' % n, "request_id": f"r{n}"}
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["via"] == "a, b"
        assert answer.elapsed_ms > 0


def test_timeouts_of_the_courier_and_of_one_send() -> None:
    async def main() -> tuple[Answer, Answer, Answer, float]:
        async with receiving() as (base, _):
            courier = RustCourier(max_connections_per_host=4, timeout_s=0.3)
            started = time.perf_counter()
            try:
                slow, fast = await asyncio.gather(courier.send(Outbound("GET", f"{base}/slow/3000", [], None), 0.3),
                                                  courier.send(Outbound("GET", f"{base}/fast", [], None), 0.3))
            finally:
                await courier.aclose()
            courier = RustCourier(max_connections_per_host=4, timeout_s=10)
            try:
                shorter = await courier.send(Outbound("GET", f"{base}/slow/3000", [], None), 0.2)
            finally:
                await courier.aclose()
            return slow, fast, shorter, time.perf_counter() - started

    slow, fast, shorter, took = asyncio.run(main())
    assert (slow.http_status, slow.error) == (None, "timeout after 0.300 s")
    assert slow.elapsed_ms >= 300
    assert fast.http_status == 200 and fast.error is None
    assert (shorter.http_status, shorter.error) == (None, "timeout after 0.2 s")
    assert took < 2.5  # neither waited for the 3 s answers


def test_a_refused_connection_is_an_error_answer() -> None:
    async def main() -> Answer:
        courier = RustCourier(max_connections_per_host=2, timeout_s=5)
        try:
            return await courier.send(put(f"http://127.0.0.1:{free_port()}/x", 1), 5)
        finally:
            await courier.aclose()

    answer = asyncio.run(main())
    assert answer.http_status is None and answer.body == b"" and answer.headers == {}
    assert answer.error is not None and "refused" in answer.error, answer.error


def test_bad_requests_fail_alone() -> None:
    async def main() -> tuple[Answer, Answer, Answer, Answer]:
        async with receiving() as (base, _):
            courier = RustCourier(max_connections_per_host=2, timeout_s=5)
            try:
                return await asyncio.gather(
                    courier.send(put(f"{base}/ok", 1), 5),
                    courier.send(Outbound("GET", "no-scheme/x", [], None), 5),
                    courier.send(Outbound("GET", f"{base}/x", [("X-N", 5)], None), 5),  # type: ignore[list-item]
                    courier.send(put(f"{base}/ok", 2), 5))
            finally:
                await courier.aclose()

    ok1, bad_url, bad_header, ok2 = asyncio.run(main())
    assert ok1.http_status == 200 and ok2.http_status == 200
    assert bad_url.http_status is None and bad_url.error is not None and bad_url.error.startswith("invalid URL")
    assert bad_header.http_status is None and bad_header.error is not None
    assert bad_header.error.startswith("cannot send:"), bad_header.error


def test_closing_answers_what_is_in_flight() -> None:
    async def main() -> tuple[list[Answer], Answer, float]:
        async with receiving() as (base, _):
            courier = RustCourier(max_connections_per_host=2, timeout_s=30)
            sends = [asyncio.create_task(courier.send(Outbound("GET", f"{base}/slow/5000", [], None), 30))
                     for _ in range(3)]
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            await courier.aclose()
            answers = await asyncio.gather(*sends)
            after = await courier.send(put(f"{base}/ok", 1), 5)
            return answers, after, time.perf_counter() - started

    answers, after, took = asyncio.run(main())
    assert [(a.http_status, a.error) for a in answers] == [(None, "courier closed")] * 3
    assert (after.http_status, after.error) == (None, "courier closed")
    assert took < 2
