"""The helper process of DaskExecutor: a LocalCluster of worker processes
that lives until its standard input closes.

    python -m flowdeck.executors.dask_cluster ADDRESS_FILE N_WORKERS THREADS
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> None:
    from distributed import LocalCluster

    address_file, workers, threads = argv[0], int(argv[1]), int(argv[2])
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers,
        threads_per_worker=threads,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    )
    try:
        with open(address_file + ".tmp", "w") as out:
            out.write(cluster.scheduler_address)
        os.replace(address_file + ".tmp", address_file)
        sys.stdin.read()  # until the DaskExecutor closes it (or dies)
    finally:
        cluster.close()


if __name__ == "__main__":
    main(sys.argv[1:])
