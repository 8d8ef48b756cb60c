"""Flowdeck's pure core: the workflow spec, the DAG, the engine, the states.

Nothing here imports Django, Kubernetes or does I/O (an import-linter contract
checks it): plain data in, plain data out, `now` passed in. The server, the
dispatcher and the command line build on it.
"""
