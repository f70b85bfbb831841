"""The demo shop's database: tables, seed data and the deterministic facts tests rely on.

:func:`prepare` creates the schema and seeds it once (idempotent; uninstrumented, so setup makes no
telemetry). Facts other code may rely on:

* ``products`` has :data:`PRODUCTS` rows, ids ``1..PRODUCTS``; any larger id is a 404.
* ``orders`` starts with :data:`SEED_ORDERS` rows; order ``n`` has :func:`items_of_order` ``(n)`` items, and
  reading it fetches each item's product with its own query (the N+1 pattern).
* ``order_events`` holds :data:`ORDER_EVENTS` rows with **no index** on ``kind``/``created_at``: the
  sales report scans all of it (the slow query).
* ``view_history`` has no index and grows by :data:`VIEWS_PER_RECOMMENDATION` rows per
  recommendations call, which scans it: that endpoint's latency regresses as the demo runs.
"""

from __future__ import annotations

import psycopg

PRODUCTS = 200
SEED_ORDERS = 300
ORDER_EVENTS = 1_000_000
VIEWS_PER_RECOMMENDATION = 200

DDL = """
CREATE TABLE IF NOT EXISTS products (
    id integer PRIMARY KEY, sku text NOT NULL, name text NOT NULL, price_cents integer NOT NULL,
    stock integer NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id serial PRIMARY KEY, customer_id integer NOT NULL, status text NOT NULL,
    total_cents integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS order_items (
    id serial PRIMARY KEY, order_id integer NOT NULL, product_id integer NOT NULL, qty integer NOT NULL);
CREATE INDEX IF NOT EXISTS order_items_order ON order_items (order_id);
CREATE TABLE IF NOT EXISTS order_events (
    id bigserial PRIMARY KEY, order_id integer NOT NULL, kind text NOT NULL, amount_cents integer NOT NULL,
    created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
    id serial PRIMARY KEY, order_id integer NOT NULL, amount_cents integer NOT NULL, status text NOT NULL,
    txn text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS view_history (session_id integer NOT NULL, product_id integer NOT NULL);
"""

SEED = f"""
INSERT INTO products (id, sku, name, price_cents, stock)
SELECT i, 'SKU-' || lpad(i::text, 5, '0'),
       (ARRAY['Espresso beans','Pour-over kettle','Ceramic mug','Burr grinder','Paper filters',
              'Cold brew jar','Milk frother','Tamper','Scale','Travel cup'])[1 + i % 10] || ' #' || i,
       500 + (i * 137) % 9500, 20 + (i * 31) % 200
FROM generate_series(1, {PRODUCTS}) AS i;
INSERT INTO orders (id, customer_id, status, total_cents, created_at)
SELECT i, 1 + (i * 7) % 97, 'paid', 0, now() - (i || ' minutes')::interval FROM generate_series(1, {SEED_ORDERS}) AS i;
SELECT setval('orders_id_seq', {SEED_ORDERS});
INSERT INTO order_items (order_id, product_id, qty)
SELECT o, 1 + (o * 13 + k * 29) % {PRODUCTS}, 1 + k % 3
FROM generate_series(1, {SEED_ORDERS}) AS o, generate_series(0, 10) AS k WHERE k < 3 + o % 8;
INSERT INTO order_events (order_id, kind, amount_cents, created_at)
SELECT 1 + i % {SEED_ORDERS}, (ARRAY['created','paid','shipped','refunded','viewed'])[1 + i % 5],
       ((i::bigint * 7919) % 20000)::int, now() - ((i % 43200) || ' minutes')::interval
FROM generate_series(1, {ORDER_EVENTS}) AS i;
ANALYZE;
"""


def items_of_order(order_id: int) -> int:
    """How many items seeded order ``order_id`` has (orders placed during the demo have 1–4)."""
    return 3 + order_id % 8


def prepare(url: str) -> bool:
    """Create and seed the schema at ``url`` unless already seeded; True when it seeded now."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DDL)
        row = conn.execute("SELECT count(*) FROM products").fetchone()
        if row and row[0]:
            return False
        with conn.transaction():
            conn.execute(SEED)
        return True


def ensure_database(admin_url: str, name: str) -> None:
    """Create database ``name`` on the server of ``admin_url`` if it does not exist."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
