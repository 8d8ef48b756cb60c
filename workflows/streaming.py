"""A streaming response that stays streamed under ASGI (Daphne).

Django's StreamingHttpResponse serves a synchronous iterator under ASGI by
turning it into a list first (`StreamingHttpResponse.__aiter__` runs
`sync_to_async(list)`), so a 1 GiB artifact would sit whole in the web
process's memory. This one pulls the chunks one at a time in a worker thread
instead; under the test client and WSGI it is the plain StreamingHttpResponse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse

_END = object()


def _next(chunks: Any) -> Any:
    return next(chunks, _END)


class ChunkedStreamingResponse(StreamingHttpResponse):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self.streaming_content
        if self.is_async:
            async for part in cast(AsyncIterator[bytes], content):
                yield part
            return
        chunks = iter(cast(Iterator[bytes], content))
        # Not thread-sensitive: a chunk's read (a file, an HTTP body from the
        # object store) need not wait behind every synchronous view.
        pull = sync_to_async(_next, thread_sensitive=False)
        while (chunk := await pull(chunks)) is not _END:
            yield chunk
