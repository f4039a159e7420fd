-- Table merges (docs/postgres.md). The kernel renders the merge as one GROUP BY query
-- (_crdt_merge_render, _crdt_mergeql_render); these wrappers read column names from the
-- catalogue, check keys, and run the SQL in the caller's transaction.

-- Column names of a relation, in order, as a JSON array.
CREATE FUNCTION _crdt_columns(rel regclass) RETURNS jsonb
  STABLE PARALLEL SAFE LANGUAGE sql AS $$
  SELECT coalesce(jsonb_agg(attname::text ORDER BY attnum), '[]'::jsonb)
  FROM pg_attribute WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped
$$;

-- NULL arguments and NULL array elements are errors (22023) naming the function and the
-- argument, before any SQL is generated from them.
CREATE FUNCTION _crdt_check_names(fn text, argument text, names text[]) RETURNS void
  IMMUTABLE PARALLEL SAFE LANGUAGE plpgsql AS $$
BEGIN
  IF names IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `%s`: expected an array of column names, found NULL',
                       fn, argument);
  END IF;
  IF array_ndims(names) > 1 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `%s`: expected a one-dimensional array of column names, found %s',
                       fn, argument, names::text);
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(names) AS n WHERE n IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `%s`: expected column names, found a NULL element in %s',
                       fn, argument, names::text);
  END IF;
END
$$;

CREATE FUNCTION _crdt_check_sources(fn text, sources regclass[]) RETURNS void
  STABLE PARALLEL SAFE LANGUAGE plpgsql AS $$
BEGIN
  IF sources IS NULL OR cardinality(sources) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `sources`: expected at least one table, found %s', fn,
                       CASE WHEN sources IS NULL THEN 'NULL' ELSE 'none' END);
  END IF;
  IF array_ndims(sources) > 1 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `sources`: expected a one-dimensional array of tables, found %s',
                       fn, sources::text);
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(sources) AS s WHERE s IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `sources`: expected tables, found a NULL element in %s',
                       fn, sources::text);
  END IF;
END
$$;

-- The tombstone column must be boolean (domains count as their base type) in every source that
-- has it; otherwise the generated coalesce(<tombstone>, false) fails with a raw type error.
-- The name matches as the kernel resolves it: exactly, else ignoring ASCII case.
CREATE FUNCTION _crdt_check_tombstone(fn text, sources regclass[], tombstone text) RETURNS void
  STABLE PARALLEL SAFE LANGUAGE plpgsql AS $$
DECLARE
  exact boolean;
  r record;
  base oid;
BEGIN
  IF tombstone IS NULL THEN
    RETURN;
  END IF;
  SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = ANY (sources) AND attname = tombstone
                 AND attnum > 0 AND NOT attisdropped) INTO exact;
  FOR r IN
    SELECT s.rel, a.attname::text AS col, a.atttypid AS typ
    FROM unnest(sources) WITH ORDINALITY AS s(rel, n)
    JOIN pg_attribute a ON a.attrelid = s.rel AND a.attnum > 0 AND NOT a.attisdropped
    WHERE CASE WHEN exact THEN a.attname = tombstone
               ELSE translate(a.attname, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                  = translate(tombstone, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') END
    ORDER BY s.n, a.attnum
  LOOP
    base := r.typ;
    WHILE (SELECT typtype = 'd' FROM pg_type WHERE oid = base) LOOP
      SELECT typbasetype INTO base FROM pg_type WHERE oid = base;
    END LOOP;
    IF base <> 'boolean'::regtype THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('%s: argument `tombstone`: expected a column of type boolean, found %s of type %s in %s',
                         fn, quote_ident(r.col), format_type(r.typ, NULL), r.rel);
    END IF;
  END LOOP;
END
$$;

-- A NULL key is an error naming the key column (design.md §2): no plan could merge it lawfully.
CREATE FUNCTION _crdt_check_keys(sources regclass[], key text[], fn text DEFAULT 'crdt_merge')
RETURNS void STABLE LANGUAGE plpgsql AS $$
DECLARE
  s regclass;
  k text;
  found boolean;
BEGIN
  PERFORM _crdt_check_sources(fn, sources);
  PERFORM _crdt_check_names(fn, 'key', key);
  FOREACH s IN ARRAY sources LOOP
    FOREACH k IN ARRAY key LOOP
      IF EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = s AND attname = k AND attnum > 0 AND NOT attisdropped) THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I IS NULL)', s, k) INTO found;
        IF found THEN
          RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('%s: argument `key`: expected no NULL in key column %s, found NULL in %s',
                             fn, k, s);
        END IF;
      END IF;
    END LOOP;
  END LOOP;
END
$$;

-- The SQL of a merge, with `fn` (the user's entry point) in its error messages.
CREATE FUNCTION _crdt_merge_sql(
  fn text, sources regclass[], key text[], strategies jsonb, clock text, clocks jsonb,
  replica text, tombstone text, provenance boolean, where_sql text, row_limit bigint,
  cell_clocks boolean DEFAULT false)
RETURNS text STABLE PARALLEL SAFE LANGUAGE plpgsql AS $$
DECLARE
  schemas text[] := '{}';
  names text[] := '{}';
  cols jsonb := '[]';
  s regclass;
  nsp text;
  rel text;
BEGIN
  PERFORM _crdt_check_sources(fn, sources);
  PERFORM _crdt_check_names(fn, 'key', key);
  PERFORM _crdt_check_tombstone(fn, sources, tombstone);
  FOREACH s IN ARRAY sources LOOP
    SELECT n.nspname, c.relname INTO nsp, rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = s;
    schemas := schemas || nsp;
    names := names || rel;
    cols := cols || jsonb_build_array(_crdt_columns(s));
  END LOOP;
  RETURN _crdt_merge_render(fn, schemas, names, cols, key, strategies, clock, clocks, replica,
                            tombstone, provenance, where_sql, row_limit, cell_clocks);
END
$$;

-- The SQL of a merge of two or more tables (or views) on `key`.
CREATE FUNCTION crdt_merge_sql(
  sources regclass[], key text[], strategies jsonb DEFAULT '{}', clock text DEFAULT '_ts',
  clocks jsonb DEFAULT NULL, replica text DEFAULT NULL, tombstone text DEFAULT NULL,
  provenance boolean DEFAULT false, where_sql text DEFAULT NULL, row_limit bigint DEFAULT NULL,
  cell_clocks boolean DEFAULT false)
RETURNS text STABLE PARALLEL SAFE LANGUAGE plpgsql AS $$
BEGIN
  RETURN _crdt_merge_sql('crdt_merge', sources, key, strategies, clock, clocks, replica,
                         tombstone, provenance, where_sql, row_limit, cell_clocks);
END
$$;

-- Set-returning merge. Rows come back as the composite type of `rowtype` (pass NULL::some_table,
-- usually the first source): SELECT * FROM crdt_merge(NULL::a, '{a,b}', '{id}').
CREATE FUNCTION crdt_merge(
  rowtype anyelement, sources regclass[], key text[], strategies jsonb DEFAULT '{}',
  clock text DEFAULT '_ts', clocks jsonb DEFAULT NULL, replica text DEFAULT NULL,
  tombstone text DEFAULT NULL, provenance boolean DEFAULT false, where_sql text DEFAULT NULL,
  row_limit bigint DEFAULT NULL, cell_clocks boolean DEFAULT false)
RETURNS SETOF anyelement STABLE PARALLEL RESTRICTED LANGUAGE plpgsql AS $$
DECLARE
  q text := crdt_merge_sql(sources, key, strategies, clock, clocks, replica, tombstone,
                           provenance, where_sql, row_limit, cell_clocks);
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
  provenance boolean DEFAULT false, where_sql text DEFAULT NULL, row_limit bigint DEFAULT NULL,
  cell_clocks boolean DEFAULT false)
RETURNS SETOF record STABLE PARALLEL RESTRICTED LANGUAGE plpgsql AS $$
DECLARE
  q text := crdt_merge_sql(sources, key, strategies, clock, clocks, replica, tombstone,
                           provenance, where_sql, row_limit, cell_clocks);
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
  rels regclass[] := '{}';
  cols jsonb := '[]';
BEGIN
  IF query IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = 'crdt_mergeql: argument `query`: expected a MergeQL query, found NULL';
  END IF;
  FOREACH s IN ARRAY _crdt_mergeql_sources(query) LOOP
    rels := rels || s::regclass;
    cols := cols || jsonb_build_array(_crdt_columns(s::regclass));
  END LOOP;
  PERFORM _crdt_check_tombstone('crdt_mergeql', rels, _crdt_mergeql_tombstone(query));
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
-- The write is one statement on one snapshot, over the merged rows m (materialised once):
--   o: the target rows whose key is in m, numbered per key (1 = the row kept);
--   UPDATE the kept row of each key, only where it differs from m (IS DISTINCT FROM);
--   DELETE the other rows of a key (only an unkeyed target can hold them: the merge has
--     collapsed them into one row);
--   INSERT the rows of m whose key the target lacks.
-- So a unique index on the key never sees two rows of one key, and row triggers see one UPDATE
-- per changed row, one INSERT per new key, nothing for unchanged rows. Every non-key column of
-- the target is written (the merged rows have all of them: the source's columns are a subset),
-- except generated columns; the keys of new rows are written even into identity columns
-- (OVERRIDING SYSTEM VALUE: they are the replicas' keys).
-- Tables and partitioned tables pick the kept row by (tableoid, ctid); other relations
-- (updatable views, foreign tables) have no ctid, and there every row of a key is updated.
--
-- The work is done by a VOLATILE function, not in the procedure's body: a procedure CALLed
-- outside a transaction block runs its statements on the snapshot taken when CALL started
-- (non-atomic context), which would predate the lock; a function's statements each take a new
-- snapshot (READ COMMITTED), so everything after the LOCK sees the rows committed before it.
CREATE FUNCTION _crdt_merge_into(
  target regclass, source regclass, key text[], strategies jsonb, clock text, clocks jsonb,
  replica text, tombstone text, cell_clocks boolean)
RETURNS void VOLATILE LANGUAGE plpgsql AS $$
DECLARE
  fn constant text := 'crdt_merge_into';
  tcols text[];
  wcols text[];
  vcols text[];
  extra text[];
  missing text[];
  has_ctid boolean;
  keys text;
  collist text;
  on_o_m text;
  tq text;
  sq text;
  on_x_m text;
  q text;
  ctes text[];
  shape text := '_crdt_merge_into_shape';
  added record;
BEGIN
  IF target IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `target`: expected a table, found NULL', fn);
  END IF;
  IF source IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `source`: expected a table, found NULL', fn);
  END IF;
  PERFORM _crdt_check_names(fn, 'key', key);
  IF cardinality(key) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `key`: expected at least one key column, found none', fn);
  END IF;
  IF current_setting('transaction_isolation') = 'repeatable read' THEN
    -- The snapshot predates the lock, so rows another merge committed meanwhile would be missed.
    RAISE EXCEPTION USING ERRCODE = '0A000',
      MESSAGE = format('%s: expected READ COMMITTED or SERIALIZABLE isolation, found REPEATABLE READ', fn);
  END IF;
  EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', target);
  SELECT array_agg(attname::text ORDER BY attnum) INTO tcols
  FROM pg_attribute WHERE attrelid = target AND attnum > 0 AND NOT attisdropped;
  SELECT array_agg(attname::text ORDER BY attnum) INTO extra
  FROM pg_attribute WHERE attrelid = source AND attnum > 0 AND NOT attisdropped
    AND attname::text <> ALL (tcols);
  IF extra IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `source`: expected only columns of %s, found %s',
                       fn, target, array_to_string(extra, ', '));
  END IF;
  SELECT array_agg(k) INTO missing FROM unnest(key) AS k WHERE k <> ALL (tcols);
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: argument `key`: expected columns of %s, found %s',
                       fn, target, array_to_string(missing, ', '));
  END IF;
  PERFORM _crdt_check_keys(ARRAY[source], key, fn);
  SELECT format('%I.%I', n.nspname, c.relname) INTO sq
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
  SELECT string_agg(quote_ident(k), ', ') INTO keys FROM unnest(key) AS k;
  q := _crdt_merge_sql(fn, ARRAY[target, source], key, strategies, clock, clocks, replica,
                       tombstone, false, format('(%s) IN (SELECT %s FROM %s)', keys, keys, sq),
                       NULL, coalesce(cell_clocks, true));
  -- Cell clocks (docs/postgres.md): the merged rows carry <col>__ts (<col>__replica) for each
  -- last-writer-wins column; a target that lacks one gets it, filled from its rows' row clock
  -- (replica), which is what the merge read for them.
  -- A view target takes no new columns: it keeps the clock columns it has.
  EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT * FROM (%s) AS q LIMIT 0', shape, q);
  FOR added IN
    SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type
    FROM pg_attribute a
    WHERE a.attrelid = format('pg_temp.%I', shape)::regclass AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname::text <> ALL (tcols)
      AND (SELECT relkind IN ('r', 'p') FROM pg_class WHERE oid = target)
    ORDER BY a.attnum
  LOOP
    -- Filled by a rewrite (ALTER ... USING), not an UPDATE, so that no row trigger fires.
    EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', target, added.name, added.type);
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE %s USING %I::%s', target, added.name,
                   added.type,
                   CASE WHEN right(added.name, 9) = '__replica' THEN replica ELSE clock END,
                   added.type);
  END LOOP;
  EXECUTE format('DROP TABLE pg_temp.%I', shape);
  -- Schema-qualified, so that no table name is taken for one of the CTEs below.
  SELECT relkind IN ('r', 'p'), format('%I.%I', n.nspname, c.relname) INTO has_ctid, tq
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
  -- Written columns: all but generated ones (Postgres computes those); vcols: the non-key ones.
  SELECT array_agg(attname::text ORDER BY attnum) INTO wcols
  FROM pg_attribute WHERE attrelid = target AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
  SELECT array_agg(c ORDER BY n) INTO vcols FROM unnest(wcols) WITH ORDINALITY AS u(c, n)
  WHERE c <> ALL (key);
  SELECT string_agg(quote_ident(c), ', ') INTO collist FROM unnest(wcols) AS c;
  SELECT string_agg(format('o.%1$I = m.%1$I', k), ' AND ') INTO on_o_m FROM unnest(key) AS k;
  SELECT string_agg(format('x.%1$I = m.%1$I', k), ' AND ') INTO on_x_m FROM unnest(key) AS k;
  IF has_ctid THEN
    ctes := ARRAY[format(
      'o AS (SELECT x.tableoid AS _crdt_rel, x.ctid AS _crdt_row, %2$s, '
      'row_number() OVER (PARTITION BY %2$s ORDER BY x.tableoid, x.ctid) AS _crdt_n '
      'FROM %1$s AS x WHERE EXISTS (SELECT 1 FROM m WHERE %3$s))',
      tq, (SELECT string_agg(format('x.%I', k), ', ') FROM unnest(key) AS k), on_x_m)];
    ctes := ctes || format(
      'd AS (DELETE FROM %s AS x USING o WHERE o._crdt_n > 1 '
      'AND x.tableoid = o._crdt_rel AND x.ctid = o._crdt_row)', tq);
    IF vcols IS NOT NULL THEN
      ctes := ctes || format(
        'u AS (UPDATE %1$s AS x SET %2$s FROM o JOIN m ON %3$s '
        'WHERE o._crdt_n = 1 AND x.tableoid = o._crdt_rel AND x.ctid = o._crdt_row '
        'AND ROW(%4$s) IS DISTINCT FROM ROW(%5$s))',
        tq,
        (SELECT string_agg(format('%1$I = m.%1$I', c), ', ') FROM unnest(vcols) AS c),
        on_o_m,
        (SELECT string_agg(format('x.%I', c), ', ') FROM unnest(vcols) AS c),
        (SELECT string_agg(format('m.%I', c), ', ') FROM unnest(vcols) AS c));
    END IF;
  ELSE
    ctes := ARRAY[format('o AS (SELECT DISTINCT %2$s FROM %1$s AS x WHERE EXISTS (SELECT 1 FROM m WHERE %3$s))',
                tq, (SELECT string_agg(format('x.%I', k), ', ') FROM unnest(key) AS k), on_x_m)];
    IF vcols IS NOT NULL THEN
      ctes := ctes || format(
        'u AS (UPDATE %1$s AS x SET %2$s FROM m WHERE %3$s AND ROW(%4$s) IS DISTINCT FROM ROW(%5$s))',
        tq,
        (SELECT string_agg(format('%1$I = m.%1$I', c), ', ') FROM unnest(vcols) AS c),
        on_x_m,
        (SELECT string_agg(format('x.%I', c), ', ') FROM unnest(vcols) AS c),
        (SELECT string_agg(format('m.%I', c), ', ') FROM unnest(vcols) AS c));
    END IF;
  END IF;
  EXECUTE format(
    'WITH m AS MATERIALIZED (%s), %s '
    'INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE '
    'SELECT %s FROM m WHERE NOT EXISTS (SELECT 1 FROM o WHERE %s)',
    q, array_to_string(ctes, ', '), tq, collist,
    (SELECT string_agg(format('m.%I', c), ', ') FROM unnest(wcols) AS c), on_o_m);
END
$$;

CREATE PROCEDURE crdt_merge_into(
  target regclass, source regclass, key text[], strategies jsonb DEFAULT '{}',
  clock text DEFAULT '_ts', clocks jsonb DEFAULT NULL, replica text DEFAULT NULL,
  tombstone text DEFAULT NULL, cell_clocks boolean DEFAULT true)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM _crdt_merge_into(target, source, key, strategies, clock, clocks, replica, tombstone,
                           cell_clocks);
END
$$;
