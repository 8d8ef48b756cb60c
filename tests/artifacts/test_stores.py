"""Both artifact stores behave the same: content-addressed, streamed, ranged."""

from __future__ import annotations

import hashlib
import socket
import time
from contextlib import closing
from datetime import timedelta

import pytest

from artifacts.s3 import S3Store
from artifacts.store import FilesystemStore, StoreError, fetch
from tests.artifacts.timing import next_second


def test_a_file_is_kept_under_its_sha256_once_and_read_back_whole_or_in_part(
    store, tmp_path
):
    source = tmp_path / "people.csv"
    content = b"id,name\n1,ada\n2,grace\n" * 1000
    source.write_bytes(content)
    blob = store.put_file(source)
    assert blob.sha256 == hashlib.sha256(content).hexdigest()
    assert blob.size == len(content)
    assert store.put_file(source) == blob  # stored again: the same blob
    assert list(store.keys()) == [blob.sha256]
    assert store.size(blob.sha256) == len(content)
    with closing(store.open(blob.sha256)) as whole:
        assert whole.read() == content
    with closing(store.open(blob.sha256, 8, 14)) as part:
        assert part.read() == content[8:14]
    copy = tmp_path / "copy.csv"
    fetch(store, blob.sha256, copy)
    assert copy.read_bytes() == content
    store.delete(blob.sha256)
    assert store.size(blob.sha256) is None
    with pytest.raises(StoreError):
        store.open(blob.sha256).read()


def test_the_store_says_when_it_cannot_be_used(s3_bucket, tmp_path):
    missing = S3Store.connect(
        **{**s3_bucket.connect_kwargs, "bucket": "no-such-bucket"}
    )
    assert missing.check() == "bucket 'no-such-bucket' does not exist"
    assert S3Store.connect(**s3_bucket.connect_kwargs).check() is None
    assert FilesystemStore(tmp_path / "fine").check() is None


def test_storing_a_blob_again_refreshes_its_time_so_it_is_not_stale(store, tmp_path):
    source = tmp_path / "a.txt"
    source.write_bytes(b"kept by whoever stores it last\n")
    blob = store.put_file(source)
    before = next_second()
    [listed] = store.blobs()
    assert (listed.sha256, listed.size) == (blob.sha256, blob.size)
    assert listed.modified < before
    assert listed.modified.utcoffset() == timedelta(0)

    assert store.put_file(source) == blob  # a running attempt stores it again
    [listed] = store.blobs()
    assert listed.modified >= before
    assert store.delete_stale(blob.sha256, before) is False
    assert store.size(blob.sha256) == blob.size

    later = next_second()
    assert store.delete_stale(blob.sha256, later) is True
    assert store.size(blob.sha256) is None
    assert list(store.blobs()) == []
    assert store.delete_stale(blob.sha256, later) is False  # already gone
    assert store.put_file(source) == blob  # and stored afresh
    assert store.size(blob.sha256) == blob.size


def test_a_blob_stored_while_the_collector_has_it_aside_is_written_again(tmp_path):
    store = FilesystemStore(tmp_path / "blobs")
    source = tmp_path / "a.txt"
    source.write_bytes(b"x" * 100)
    blob = store.put_file(source)
    target = store._path(blob.sha256)
    aside = target.with_name(".deleting-" + target.name)
    target.rename(aside)  # delete_stale, between its move and its look
    assert list(store.keys()) == []
    assert store.put_file(source) == blob
    assert target.read_bytes() == b"x" * 100
    assert list(store.keys()) == [blob.sha256]


def test_the_readiness_check_gives_up_quickly_on_a_store_that_does_not_answer():
    """Within the readiness probe's 5 s (deploy/kubernetes/web.yaml), not after
    the 5 tries of 60 s the store's other calls allow."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections queue, nobody answers
        port = silent.getsockname()[1]
        store = S3Store.connect(
            bucket="flowdeck",
            endpoint_url=f"http://127.0.0.1:{port}",
            region="us-east-1",
            access_key="x",
            secret_key="y",
        )
        started = time.monotonic()
        problem = store.check()
        elapsed = time.monotonic() - started
    assert problem is not None and problem.startswith("cannot reach the object store")
    assert elapsed < 4
