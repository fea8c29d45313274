"""ADR-011's validation scenarios, end to end: a real Redis Cluster (the lab), a catalog service
built on the service kit, Locust load, a real Prometheus with the project's rules. See
docs/loadtest.md."""
