-- GIN mirrors of FerretDB's indexes (see /work/shared/DESIGN.md, "Databases").
--
-- FerretDB v1.24.2 on PostgreSQL stores a collection as a table with one jsonb column `_jsonb` and creates
-- each index as a btree on `(_jsonb -> 'field')`. But it pushes an equality filter down as
-- `_jsonb -> 'field' @> '"value"'`, and a btree cannot serve `@>`: without help every find by `_id` or by
-- an indexed field reads the whole table (and updates and deletes by `_id` start with such a find).
-- A GIN `jsonb_path_ops` index on the same expression serves `@>`.
--
-- So an event trigger adds, for every distinct top-level expression `(_jsonb -> 'field')` of FerretDB's
-- btree indexes on a table, one GIN index on that expression. A compound index `{a: 1, b: 1}` gives one
-- GIN for `a` and one for `b`, shared with any other index on either field: the planner combines them for
-- a filter on both, and each alone serves a filter on one field. Nested fields (`a.b`) get no mirror:
-- FerretDB pushes dotted paths down only with --test-enable-nested-pushdown, so it would never be used.
-- `fastupdate = off` puts new keys straight into the tree instead of a pending list that every look-up
-- must also scan; our writes are single documents, so the pending list would only slow reads down.
-- When FerretDB drops an index, a second trigger drops mirrors no remaining btree needs.
--
-- stack.sh applies this file as the superuser in FerretDB's database at every start: every statement is
-- idempotent, and the final SELECT adds mirrors for indexes created before the triggers existed.

SET client_min_messages = warning;  -- no notices for the IF [NOT] EXISTS of a re-run

CREATE SCHEMA IF NOT EXISTS ferretdb_index_mirror;
-- FerretDB's role runs the triggers (they are not SECURITY DEFINER: it owns the tables it indexes).
GRANT USAGE ON SCHEMA ferretdb_index_mirror TO PUBLIC;

-- Expressions of a table's btree indexes that FerretDB's pushdown can use: `(_jsonb -> 'field'::text)`.
CREATE OR REPLACE FUNCTION ferretdb_index_mirror.wanted(tbl oid) RETURNS SETOF text
LANGUAGE sql STABLE AS $body$
  SELECT DISTINCT e.expr
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
  CROSS JOIN LATERAL generate_series(1, i.indnkeyatts) AS k(n)
  CROSS JOIN LATERAL (SELECT pg_get_indexdef(i.indexrelid, k.n, true) AS expr) AS e
  WHERE i.indrelid = tbl
    AND i.indkey[k.n - 1] = 0  -- an expression, not a plain column
    AND e.expr ~ $re$^\(_jsonb -> '([^']|'')*'::text\)$$re$
$body$;

-- The GIN mirrors a table has now, by expression.
CREATE OR REPLACE FUNCTION ferretdb_index_mirror.present(tbl oid, OUT expr text, OUT index_oid oid)
RETURNS SETOF record
LANGUAGE sql STABLE AS $$
  SELECT pg_get_indexdef(i.indexrelid, 1, true), i.indexrelid
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'gin'
  JOIN pg_opclass oc ON oc.oid = i.indclass[0] AND oc.opcname = 'jsonb_path_ops'
  WHERE i.indrelid = tbl AND i.indnkeyatts = 1
$$;

-- Make a table's mirrors match its btree indexes: create the missing ones, drop the orphans.
CREATE OR REPLACE FUNCTION ferretdb_index_mirror.reconcile(tbl oid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t record;
  e text;
  m record;
BEGIN
  SELECT n.nspname, c.relname INTO t
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.oid = tbl AND c.relkind = 'r';
  -- FerretDB's own metadata table is read once at start-up; it needs no mirror.
  IF NOT FOUND OR t.relname LIKE '\_ferretdb\_%' OR t.nspname = 'ferretdb_index_mirror' THEN
    RETURN;
  END IF;
  FOR e IN SELECT w FROM ferretdb_index_mirror.wanted(tbl) AS w
           EXCEPT SELECT p.expr FROM ferretdb_index_mirror.present(tbl) AS p LOOP
    -- The name is unique per table and expression (index names are unique per schema) and fits in 63 bytes.
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin ((%s) jsonb_path_ops) WITH (fastupdate = off)',
                   left(t.relname, 40) || '_' || left(md5(t.relname || '|' || e), 12) || '_gin',
                   t.nspname, t.relname, e);
  END LOOP;
  FOR m IN SELECT p.index_oid FROM ferretdb_index_mirror.present(tbl) AS p
           WHERE p.expr NOT IN (SELECT w FROM ferretdb_index_mirror.wanted(tbl) AS w) LOOP
    EXECUTE format('DROP INDEX IF EXISTS %s', m.index_oid::regclass);
  END LOOP;
END
$$;

-- Both event triggers: reconcile the tables whose indexes the command created or may have dropped.
CREATE OR REPLACE FUNCTION ferretdb_index_mirror.on_index_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  tables oid[];
BEGIN
  IF TG_EVENT = 'ddl_command_end' THEN
    tables := ARRAY(
      SELECT i.indrelid
      FROM pg_event_trigger_ddl_commands() AS c
      JOIN pg_index i ON i.indexrelid = c.objid
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'  -- creating our own GIN indexes ends here
      WHERE c.object_type = 'index');
  ELSE
    -- A dropped index no longer names its table: every table of its schema that has a mirror.
    tables := ARRAY(
      SELECT i.indrelid
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'gin'
      JOIN pg_namespace n ON n.oid = ic.relnamespace
      WHERE n.nspname IN (SELECT d.schema_name FROM pg_event_trigger_dropped_objects() AS d
                          WHERE d.object_type = 'index'));
  END IF;
  PERFORM ferretdb_index_mirror.reconcile(t.oid) FROM (SELECT DISTINCT unnest(tables)) AS t(oid);
END
$$;

DROP EVENT TRIGGER IF EXISTS ferretdb_index_mirror_create;
CREATE EVENT TRIGGER ferretdb_index_mirror_create ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION ferretdb_index_mirror.on_index_ddl();

DROP EVENT TRIGGER IF EXISTS ferretdb_index_mirror_drop;
CREATE EVENT TRIGGER ferretdb_index_mirror_drop ON sql_drop WHEN TAG IN ('DROP INDEX')
  EXECUTE FUNCTION ferretdb_index_mirror.on_index_ddl();

-- Indexes created while the triggers did not exist (a database made before this file, or by an edit of it).
DO $$
BEGIN
  PERFORM ferretdb_index_mirror.reconcile(c.oid)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('information_schema', 'ferretdb_index_mirror')
    AND n.nspname NOT LIKE 'pg\_%';
END
$$;
