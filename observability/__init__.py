"""Operating Flowdeck: Prometheus metrics and their exposition (docs/operations.md)."""
