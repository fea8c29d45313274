-- Database-trigger invalidation (docs/invalidation.md): a price change in PostgreSQL becomes an
-- invalidation event on the cache cluster's stream, through `python -m invalidator.pg_relay`.
-- Needs PostgreSQL 14 or later. Given the shop's table:
--   prices (product_id text PRIMARY KEY, amount numeric NOT NULL)

-- The outbox: one row per event, written by the change's own transaction, so an event exists
-- exactly when the change commits, and waits here while no relay runs.
CREATE TABLE IF NOT EXISTS cache_invalidation_outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    error text -- set by the relay on a row that is not a valid event; it is then left alone
);

-- Wakes the relay. PostgreSQL delivers NOTIFY at commit, and never for a rolled-back change;
-- the relay also looks every few seconds, for a notification sent while it was away.
CREATE OR REPLACE FUNCTION cache_invalidation_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cache_invalidation', '');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER cache_invalidation_outbox_notify
AFTER INSERT ON cache_invalidation_outbox
FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidation_notify();

-- The example: a changed price drops the product's price key (service:entity:id:version) and
-- its API URL at the edge. The id is fixed here, so an event the relay publishes twice (a crash
-- between the stream and its commit) is applied once.
CREATE OR REPLACE FUNCTION prices_invalidate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cache_invalidation_outbox (event) VALUES (jsonb_build_object(
        'schema', 'cache-invalidation',
        'version', 1,
        'id', 'pricing-db:' || gen_random_uuid(),
        'kind', 'price_change',
        'source', 'pricing-db',
        'occurred_at', to_char(
            clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'
        ),
        'redis', jsonb_build_object(
            'keys', jsonb_build_array(format('product:price:%s:v1', NEW.product_id))
        ),
        'edge', jsonb_build_object(
            'urls', jsonb_build_array(
                format('https://shop.example.com/api/prices/%s', NEW.product_id)
            )
        )
    ));
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER prices_invalidate
AFTER UPDATE OF amount ON prices
FOR EACH ROW WHEN (old.amount IS DISTINCT FROM new.amount)
EXECUTE FUNCTION prices_invalidate();
