"""The embedded broker never hands a worker a half-written message."""

from __future__ import annotations

import threading
from pathlib import Path

from kombu import Connection, Queue

from webapp.broker import Transport


def connect(folder: Path) -> Connection:
    return Connection(
        transport=Transport,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
        },
    )


def test_messages_written_while_a_consumer_reads_arrive_whole(tmp_path: Path) -> None:
    queue = Queue("jobs", routing_key="jobs")
    # Large messages take long enough to write that a reader polling the folder
    # would catch one half-written (kombu's own transport fails this test).
    sent = 40
    received: list[int] = []

    def produce(offset: int) -> None:
        with connect(tmp_path) as connection:
            producer = connection.Producer()
            for number in range(offset, sent, 4):
                producer.publish(
                    {"number": number, "padding": "x" * 2_000_000},
                    routing_key="jobs",
                    declare=[queue],
                )

    producers = [threading.Thread(target=produce, args=(i,)) for i in range(4)]
    with connect(tmp_path) as connection:
        simple = connection.SimpleQueue(queue)
        for producer in producers:
            producer.start()
        while len(received) < sent:
            message = simple.get(timeout=10)
            received.append(message.payload["number"])
            message.ack()
        simple.close()
    for producer in producers:
        producer.join()
    assert sorted(received) == list(range(sent))
