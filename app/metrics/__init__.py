"""`/metrics` in the Prometheus text format: the delivery engine's counters and histograms (`app/outbox/metrics.py`,
summed over the server's worker processes) and gauges read from PostgreSQL at each scrape (`collector.py`)."""
