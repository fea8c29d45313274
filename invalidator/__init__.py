"""The invalidation service: change events in (a Redis Stream, a signed webhook), Redis keys and
edge cache entries out. See docs/invalidation.md."""
