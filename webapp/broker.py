"""The embedded mode's broker: kombu's filesystem transport, with atomic writes.

kombu writes a message file in place, so a worker listing the folder at that
moment can take the file while it is still empty and crash on the JSON. Here
a message is written under a name the reader skips and renamed into place,
which on one file system is atomic.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        folder = self.data_folder_out
        try:
            # A leading dot keeps the half-written file out of the reader's match.
            descriptor, partial = tempfile.mkstemp(prefix=".", dir=folder)
            with os.fdopen(descriptor, "wb") as message:
                message.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(folder, name))
        except OSError as error:
            raise ChannelError(f"cannot add a message to {folder!r}") from error


class Transport(filesystem.Transport):
    Channel = Channel
