package stack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The dev-store aid: FerretDB 1.x pushes a top-level equality down to
// PostgreSQL as `_jsonb -> 'field' @> '"value"'` (backends/postgresql/query.go,
// filterEqual, v1.24.2), but the indexes it creates for MongoDB's createIndexes
// are btree indexes on (_jsonb -> 'field'), which cannot serve `@>`. So every
// query, even by _id, read the whole table. ginIndexSQL installs an event
// trigger that gives every such index a GIN index on its leading field: the
// fields MongoDB would serve from the index (username for the purchase list,
// _id for duplicate checks and for the claims of Idempotency-Keys), now served
// by PostgreSQL too. Nothing in the functions knows about it; the MongoDB
// indexes cm-api declares decide which fields get one.
//   - A unique index (the _id) stays, as the constraint, and gets a GIN twin.
//   - A non-unique one is replaced by its GIN index, under its own name (so
//     FerretDB's dropIndexes still finds it): FerretDB never reads one (it
//     sorts and filters in Go), so it only cost inserts, about a quarter of
//     them (BenchmarkDevStoreInsert: 8,100-8,500/s with, 11,200-11,400/s
//     without, batches of 1,000).
//   - fastupdate is off: with it, new entries wait in a pending list that
//     every query reads through until a vacuum, which made a light user's
//     first page take 12 ms instead of 3 after 200,000 inserts (make bench,
//     page), and inserts were no faster with it.
const ginIndexSQL = `
CREATE OR REPLACE FUNCTION shop_dev_gin_twin(idx oid) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
	method text;
	tbl    regclass;
	name   text;
	schema text;
	uniq   boolean;
	lead   text;
BEGIN
	SELECT am.amname, i.indrelid::regclass, c.relname, n.nspname, i.indisunique
	  INTO method, tbl, name, schema, uniq
	  FROM pg_index i
	  JOIN pg_class c ON c.oid = i.indexrelid
	  JOIN pg_namespace n ON n.oid = c.relnamespace
	  JOIN pg_am am ON am.oid = c.relam
	 WHERE i.indexrelid = idx;
	-- FerretDB's own metadata is read whole anyway
	IF method IS DISTINCT FROM 'btree' OR (SELECT relname FROM pg_class WHERE oid = tbl) LIKE '\_ferretdb%' THEN
		RETURN;
	END IF;
	lead := pg_get_indexdef(idx, 1, false);
	-- only a top-level field, ((_jsonb -> 'field'::text)), as FerretDB writes it
	IF lead !~ '^\(\(_jsonb -> ''[^'']+''::text\)\)$' THEN
		RETURN;
	END IF;
	IF uniq THEN
		EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin (%s jsonb_path_ops) WITH (fastupdate = off)',
			left(name, 58) || '_gin', tbl, lead);
	ELSE
		EXECUTE format('DROP INDEX %I.%I', schema, name);
		EXECUTE format('CREATE INDEX %I ON %s USING gin (%s jsonb_path_ops) WITH (fastupdate = off)', name, tbl, lead);
	END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION shop_dev_gin_on_create_index() RETURNS event_trigger LANGUAGE plpgsql AS $fn$
DECLARE
	cmd record;
BEGIN
	FOR cmd IN SELECT objid FROM pg_event_trigger_ddl_commands()
	            WHERE command_tag = 'CREATE INDEX' AND object_type = 'index' LOOP
		PERFORM shop_dev_gin_twin(cmd.objid);
	END LOOP;
END
$fn$;

DROP EVENT TRIGGER IF EXISTS shop_dev_gin;
CREATE EVENT TRIGGER shop_dev_gin ON ddl_command_end
	WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION shop_dev_gin_on_create_index();

-- indexes created before the trigger existed (a store from an earlier version)
SELECT shop_dev_gin_twin(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'public');
`

// prepare waits until the server accepts connections, creates FerretDB's
// database when missing and installs the GIN-twin trigger in it.
func (p *Postgres) prepare(ctx context.Context) error {
	admin, err := p.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", pgDatabase).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", pgDatabase, err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{pgDatabase}.Sanitize()); err != nil {
			return fmt.Errorf("create database %s: %w", pgDatabase, err)
		}
	}
	db, err := p.connect(ctx, pgDatabase)
	if err != nil {
		return err
	}
	defer db.Close(context.WithoutCancel(ctx))
	if _, err := db.Exec(ctx, ginIndexSQL); err != nil {
		return fmt.Errorf("install the GIN index trigger: %w", err)
	}
	return nil
}

// connect opens a session to database, retrying while the server starts up.
func (p *Postgres) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	for {
		conn, err := pgx.Connect(ctx, p.urlFor(database))
		if err == nil {
			return conn, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("postgres exited during start-up (%v); its log says why", p.err)
		case <-ctx.Done():
			return nil, fmt.Errorf("postgres did not accept connections: %w", errors.Join(ctx.Err(), err))
		case <-time.After(20 * time.Millisecond):
		}
	}
}
