-- Table merges (docs/postgres.md). The kernel renders the merge as one GROUP BY query
-- (_crdt_merge_render, _crdt_mergeql_render); these wrappers read column names from the
-- catalogue, check keys, and run the SQL in the caller's transaction.

-- Column names of a relation, in order, as a JSON array.
CREATE FUNCTION _crdt_columns(rel regclass) RETURNS jsonb
  STABLE PARALLEL SAFE LANGUAGE sql AS $$
  SELECT coalesce(jsonb_agg(attname::text ORDER BY attnum), '[]'::jsonb)
  FROM pg_attribute WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped
$$;

-- A NULL key is an error naming the key column (design.md §2): no plan could merge it lawfully.
CREATE FUNCTION _crdt_check_keys(sources regclass[], key text[]) RETURNS void
  STABLE LANGUAGE plpgsql AS $$
DECLARE
  s regclass;
  k text;
  found boolean;
BEGIN
  FOREACH s IN ARRAY sources LOOP
    FOREACH k IN ARRAY key LOOP
      IF EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = s AND attname = k AND attnum > 0 AND NOT attisdropped) THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I IS NULL)', s, k) INTO found;
        IF found THEN
          RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('crdt_merge: argument `key`: expected no NULL in key column %s, found NULL in %s', k, s);
        END IF;
      END IF;
    END LOOP;
  END LOOP;
END
$$;

-- The SQL of a merge of two or more tables (or views) on `key`.
CREATE FUNCTION crdt_merge_sql(
  sources regclass[], key text[], strategies jsonb DEFAULT '{}', clock text DEFAULT '_ts',
  clocks jsonb DEFAULT NULL, replica text DEFAULT NULL, tombstone text DEFAULT NULL,
  provenance boolean DEFAULT false, where_sql text DEFAULT NULL, row_limit bigint DEFAULT NULL)
RETURNS text STABLE PARALLEL SAFE LANGUAGE plpgsql AS $$
DECLARE
  schemas text[] := '{}';
  names text[] := '{}';
  cols jsonb := '[]';
  s regclass;
  nsp text;
  rel text;
BEGIN
  IF sources IS NULL OR cardinality(sources) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = 'crdt_merge: argument `sources`: expected at least one table, found none';
  END IF;
  FOREACH s IN ARRAY sources LOOP
    SELECT n.nspname, c.relname INTO nsp, rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = s;
    schemas := schemas || nsp;
    names := names || rel;
    cols := cols || jsonb_build_array(_crdt_columns(s));
  END LOOP;
  RETURN _crdt_merge_render(schemas, names, cols, key, strategies, clock, clocks, replica,
                            tombstone, provenance, where_sql, row_limit);
END
$$;

-- Set-returning merge. Rows come back as the composite type of `rowtype` (pass NULL::some_table,
-- usually the first source): SELECT * FROM crdt_merge(NULL::a, '{a,b}', '{id}').
CREATE FUNCTION crdt_merge(
  rowtype anyelement, sources regclass[], key text[], strategies jsonb DEFAULT '{}',
  clock text DEFAULT '_ts', clocks jsonb DEFAULT NULL, replica text DEFAULT NULL,
  tombstone text DEFAULT NULL, provenance boolean DEFAULT false, where_sql text DEFAULT NULL,
  row_limit bigint DEFAULT NULL)
RETURNS SETOF anyelement STABLE PARALLEL RESTRICTED LANGUAGE plpgsql AS $$
DECLARE
  q text := crdt_merge_sql(sources, key, strategies, clock, clocks, replica, tombstone,
                           provenance, where_sql, row_limit);
BEGIN
  PERFORM _crdt_check_keys(sources, key);
  RETURN QUERY EXECUTE q;
END
$$;

-- The same with a column definition list at the call site:
-- SELECT * FROM crdt_merge('{a,b}', '{id}') AS m(id int, name text, _ts bigint).
CREATE FUNCTION crdt_merge(
  sources regclass[], key text[], strategies jsonb DEFAULT '{}', clock text DEFAULT '_ts',
  clocks jsonb DEFAULT NULL, replica text DEFAULT NULL, tombstone text DEFAULT NULL,
  provenance boolean DEFAULT false, where_sql text DEFAULT NULL, row_limit bigint DEFAULT NULL)
RETURNS SETOF record STABLE PARALLEL RESTRICTED LANGUAGE plpgsql AS $$
DECLARE
  q text := crdt_merge_sql(sources, key, strategies, clock, clocks, replica, tombstone,
                           provenance, where_sql, row_limit);
BEGIN
  PERFORM _crdt_check_keys(sources, key);
  RETURN QUERY EXECUTE q;
END
$$;

-- MergeQL (docs/mergeql.md): the SQL, and the rows.
CREATE FUNCTION crdt_mergeql_sql(query text) RETURNS text
  STABLE PARALLEL SAFE LANGUAGE plpgsql AS $$
DECLARE
  s text;
  cols jsonb := '[]';
BEGIN
  FOREACH s IN ARRAY _crdt_mergeql_sources(query) LOOP
    cols := cols || jsonb_build_array(_crdt_columns(s::regclass));
  END LOOP;
  RETURN _crdt_mergeql_render(query, cols);
END
$$;

CREATE FUNCTION crdt_mergeql(query text) RETURNS SETOF record
  STABLE PARALLEL RESTRICTED LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE crdt_mergeql_sql(query);
END
$$;

CREATE FUNCTION crdt_mergeql(rowtype anyelement, query text) RETURNS SETOF anyelement
  STABLE PARALLEL RESTRICTED LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE crdt_mergeql_sql(query);
END
$$;

-- Merges `source` into `target` in place: every key of `source` gets the join of its target
-- row(s) and source row(s); other target rows are untouched; tombstones are kept. Idempotent.
-- Two sessions merging into one target serialise on a SHARE ROW EXCLUSIVE lock, so concurrent
-- calls end with the same table as running them one after the other.
--
-- The work is done by a VOLATILE function, not in the procedure's body: a procedure CALLed
-- outside a transaction block runs its statements on the snapshot taken when CALL started
-- (non-atomic context), which would predate the lock; a function's statements each take a new
-- snapshot (READ COMMITTED), so everything after the LOCK sees the rows committed before it.
CREATE FUNCTION _crdt_merge_into(
  target regclass, source regclass, key text[], strategies jsonb, clock text, clocks jsonb,
  replica text, tombstone text)
RETURNS void VOLATILE LANGUAGE plpgsql AS $$
DECLARE
  tcols text[];
  extra text[];
  keys text;
  collist text;
  q text;
BEGIN
  IF current_setting('transaction_isolation') = 'repeatable read' THEN
    -- The snapshot predates the lock, so rows another merge committed meanwhile would be missed.
    RAISE EXCEPTION USING ERRCODE = '0A000',
      MESSAGE = 'crdt_merge_into: expected READ COMMITTED or SERIALIZABLE isolation, found REPEATABLE READ';
  END IF;
  IF key IS NULL OR cardinality(key) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = 'crdt_merge_into: argument `key`: expected at least one key column, found none';
  END IF;
  EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', target);
  SELECT array_agg(attname::text ORDER BY attnum) INTO tcols
  FROM pg_attribute WHERE attrelid = target AND attnum > 0 AND NOT attisdropped;
  SELECT array_agg(attname::text ORDER BY attnum) INTO extra
  FROM pg_attribute WHERE attrelid = source AND attnum > 0 AND NOT attisdropped
    AND attname::text <> ALL (tcols);
  IF extra IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('crdt_merge_into: argument `source`: expected only columns of %s, found %s',
                       target, array_to_string(extra, ', '));
  END IF;
  PERFORM _crdt_check_keys(ARRAY[source], key);
  SELECT string_agg(quote_ident(k), ', ') INTO keys FROM unnest(key) AS k;
  SELECT string_agg(quote_ident(c), ', ') INTO collist FROM unnest(tcols) AS c;
  q := crdt_merge_sql(ARRAY[target, source], key, strategies, clock, clocks, replica, tombstone,
                      false, format('(%s) IN (SELECT %s FROM %s)', keys, keys, source), NULL);
  EXECUTE format(
    'WITH m AS MATERIALIZED (%s), '
    'd AS (DELETE FROM %s WHERE (%s) IN (SELECT %s FROM m)) '
    'INSERT INTO %s (%s) SELECT %s FROM m',
    q, target, keys, keys, target, collist, collist);
END
$$;

CREATE PROCEDURE crdt_merge_into(
  target regclass, source regclass, key text[], strategies jsonb DEFAULT '{}',
  clock text DEFAULT '_ts', clocks jsonb DEFAULT NULL, replica text DEFAULT NULL,
  tombstone text DEFAULT NULL)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM _crdt_merge_into(target, source, key, strategies, clock, clocks, replica, tombstone);
END
$$;
