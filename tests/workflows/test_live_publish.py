"""Publishing committed events to the channel layer (workflows.live.publish)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from workflows import live


def _subscribe(run_id: int) -> tuple[Any, str]:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live.run_group(run_id), channel)
    return layer, channel


def _receive(layer: Any, channel: str) -> dict[str, Any]:
    async def receive() -> dict[str, Any]:
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    return async_to_sync(receive)()


def test_a_thread_whose_event_loop_is_marked_running_still_publishes():
    # Playwright's sync API leaves its loop marked running in the test's thread
    # between calls; a publish from there (an on-commit hook) must still go out.
    layer, channel = _subscribe(901)
    loop = asyncio.new_event_loop()
    asyncio._set_running_loop(loop)
    try:
        live.publish(901, [{"seq": 1}], False)
    finally:
        asyncio._set_running_loop(None)
        loop.close()
    assert live.publisher.wait_idle()
    assert _receive(layer, channel)["events"] == [{"seq": 1}]


def test_publishes_from_many_threads_arrive_in_publication_order():
    layer, channel = _subscribe(902)
    order = threading.Lock()
    published: list[int] = []

    def publish(seq: int) -> None:
        with order:  # each publish is whole before the next starts
            published.append(seq)
            live.publish(902, [{"seq": seq}], False)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(1, 41)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert live.publisher.wait_idle()
    received = [_receive(layer, channel)["events"][0]["seq"] for _ in published]
    assert received == published
