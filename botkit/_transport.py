"""The transport under the session's httpx client: httpx's own (httpcore) or aiohttp.

botkit keeps the httpx API everywhere; only the bytes-on-the-wire layer is swapped.
`bench/session.py` measures both (see bench/RESULTS.md for the numbers behind the
default). This aiohttp transport exists, instead of `httpx_aiohttp.AiohttpTransport`,
because that one maps a dropped connection (aiohttp `ServerDisconnectedError`) to
`httpx.ConnectTimeout`, which says "nothing was sent": a session trusting it would
re-send a POST the server may already have stored. Here only failures that happen
before the request leaves are "connect" errors; everything after is a read error.
"""

from __future__ import annotations

import typing

import aiohttp

from botkit._http import httpx

__all__ = ["DEFAULT_TRANSPORT", "TRANSPORTS", "AiohttpTransport", "make_transport"]

#: Seconds an idle pooled connection is kept. Below 5 s on purpose: Node's HTTP server
#: (Rocket.Chat) and uvicorn close idle keep-alive connections after 5 s, and a POST sent
#: on a connection the server is closing fails after it may have left: ambiguous, so
#: botkit could not re-send it. Expiring first means a fresh connection instead.
KEEPALIVE_SECONDS = 4.0

TransportName = typing.Literal["aiohttp", "httpx"]
TRANSPORTS: tuple[TransportName, ...] = ("aiohttp", "httpx")
#: Chosen from bench/RESULTS.md: about half the client CPU per request on loopback.
DEFAULT_TRANSPORT: TransportName = "aiohttp"


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends through one `aiohttp.ClientSession`.

    The response body is read whole (Rocket.Chat answers are small JSON documents), so
    the httpx response needs no stream adapter.
    """

    def __init__(self, *, verify: bool = True, max_connections: int = 10) -> None:
        # True: aiohttp's own (cached) default context, instead of building one per session.
        self._ssl = verify
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created lazily: an aiohttp session belongs to the running event loop.
        connector = aiohttp.TCPConnector(
            limit=self._limit, ssl=self._ssl, keepalive_timeout=KEEPALIVE_SECONDS
        )
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        content = request.content or None
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=content,
                allow_redirects=False,
                compress=False,
                timeout=timeout,
            ) as response:
                body = await response.read()
                status = response.status
                headers = response.raw_headers
        except aiohttp.ClientConnectorError as error:
            raise httpx.ConnectError(_describe(error), request=request) from error
        except aiohttp.ConnectionTimeoutError as error:
            raise httpx.ConnectTimeout(_describe(error), request=request) from error
        except (TimeoutError, aiohttp.SocketTimeoutError) as error:
            raise httpx.ReadTimeout(_describe(error), request=request) from error
        except aiohttp.ClientPayloadError as error:
            raise httpx.RemoteProtocolError(_describe(error), request=request) from error
        except aiohttp.ClientError as error:
            # Disconnected mid-exchange, reset, bad status line: the server may have
            # acted on the request.
            raise httpx.ReadError(_describe(error), request=request) from error
        return httpx.Response(
            status,
            headers=headers,
            content=body,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _describe(error: BaseException) -> str:
    # aiohttp messages name host and port only; never headers.
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def make_transport(
    name: str, *, verify: bool = True, max_connections: int = 10
) -> httpx.AsyncBaseTransport:
    """The named transport ("aiohttp" or "httpx"), configured from `[server]`."""
    if name == "aiohttp":
        return AiohttpTransport(verify=verify, max_connections=max_connections)
    if name == "httpx":
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections,
            keepalive_expiry=KEEPALIVE_SECONDS,
        )
        return httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    raise ValueError(f"unknown transport {name!r}; expected one of {', '.join(TRANSPORTS)}")
