"""The only writers of schedules, their fires and backfills: editing.py (create,
change, pause, delete), firing.py (the tick: due times, overlap, catch-up,
queues) and backfills.py (past ranges)."""
