"""The workflow domain: specs, the DAG engine, runs and their state machine."""
