"""`flowdeck validate` on a client without the kubernetes package: the same
messages for quantities (the core's own parser, held to Kubernetes'), and the
affinity's inner fields left to the server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from flowcore.spec import parse_document, validate

SPEC = textwrap.dedent("""\
    apiVersion: flowdeck.io/v1
    kind: Workflow
    metadata: {name: sized}
    spec:
      tasks:
        - name: big
          image: busybox
          resources:
            requests: {cpu: 2, memory: 3Gi}
            limits: {cpu: 1500m, memory: lots}
    """)


def test_validation_without_kubernetes_gives_the_servers_messages(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "sized.yaml"
    spec.write_text(SPEC)
    code = (
        "import sys; sys.modules['kubernetes'] = None; sys.modules['pydantic'] = None\n"
        "from flowdeck.cli import main\n"
        f"status = main(['validate', '-f', {str(spec)!r}])\n"
        "loaded = {name.split('.')[0] for name, m in sys.modules.items() if m}\n"
        "assert 'kubernetes' not in loaded\n"
        "sys.exit(status)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    server = [f"{e.path}: {e.message}" for e in validate(parse_document(SPEC))]
    assert [line.split(": ", 1)[1] for line in done.stdout.splitlines()] == server
    assert len(server) == 2  # the bad quantity, and a request above its limit
