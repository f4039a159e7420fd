-- Catalogue functions of crdt_merge (the kernel's CATALOGUE, docs/sql-functions.md).
-- Hand-maintained beside the wrappers in src/lib.rs; tests/postgres checks that the
-- functions created equal the catalogue.

-- Aggregate support functions (one transition function per aggregate; combine, serial,
-- deserial and final functions are shared). Names start with an underscore: not user API.
CREATE FUNCTION _crdt_combine(internal, internal) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_combine';
CREATE FUNCTION _crdt_serial(internal) RETURNS bytea
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_serial';
CREATE FUNCTION _crdt_deserial(bytea, internal) RETURNS internal
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_deserial';

-- Aggregates: NULL inputs are bottom (the transition functions are not STRICT).
CREATE FUNCTION _crdt_lww_sfunc(internal, anycompatible, "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_lww_sfunc';
CREATE FUNCTION _crdt_final_any(internal, anycompatible, "any") RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_final_any';
CREATE AGGREGATE crdt_lww(anycompatible, "any") (
  SFUNC = _crdt_lww_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_any, FINALFUNC_EXTRA,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_lww_sfunc(internal, anycompatible, "any", "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_lww_sfunc';
CREATE FUNCTION _crdt_final_any(internal, anycompatible, "any", "any") RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_final_any';
CREATE AGGREGATE crdt_lww(anycompatible, "any", "any") (
  SFUNC = _crdt_lww_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_any, FINALFUNC_EXTRA,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_lww_nullable_sfunc(internal, anycompatible, "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_lww_nullable_sfunc';
CREATE AGGREGATE crdt_lww_nullable(anycompatible, "any") (
  SFUNC = _crdt_lww_nullable_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_any, FINALFUNC_EXTRA,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_lww_nullable_sfunc(internal, anycompatible, "any", "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_lww_nullable_sfunc';
CREATE AGGREGATE crdt_lww_nullable(anycompatible, "any", "any") (
  SFUNC = _crdt_lww_nullable_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_any, FINALFUNC_EXTRA,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_max_sfunc(internal, anycompatible) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_max_sfunc';
CREATE FUNCTION _crdt_final_any(internal, anycompatible) RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_final_any';
CREATE AGGREGATE crdt_max(anycompatible) (
  SFUNC = _crdt_max_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_any, FINALFUNC_EXTRA,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_min_sfunc(internal, anycompatible) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_min_sfunc';
CREATE AGGREGATE crdt_min(anycompatible) (
  SFUNC = _crdt_min_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_any, FINALFUNC_EXTRA,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_priority_sfunc(internal, anycompatible, anycompatiblearray) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_priority_sfunc';
CREATE FUNCTION _crdt_final_any(internal, anycompatible, anycompatiblearray) RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_final_any';
CREATE AGGREGATE crdt_priority(anycompatible, anycompatiblearray) (
  SFUNC = _crdt_priority_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_any, FINALFUNC_EXTRA,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_longest_sfunc(internal, anycompatible, "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_longest_sfunc';
CREATE AGGREGATE crdt_longest(anycompatible, "any") (
  SFUNC = _crdt_longest_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_any, FINALFUNC_EXTRA,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_longest_sfunc(internal, anycompatible, "any", "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_longest_sfunc';
CREATE AGGREGATE crdt_longest(anycompatible, "any", "any") (
  SFUNC = _crdt_longest_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_any, FINALFUNC_EXTRA,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_union_sfunc(internal, anycompatiblearray) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_union_sfunc';
CREATE FUNCTION _crdt_final_array(internal, anycompatiblearray) RETURNS anycompatiblearray
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_final_any';
CREATE AGGREGATE crdt_union(anycompatiblearray) (
  SFUNC = _crdt_union_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_array, FINALFUNC_EXTRA,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_union_sfunc(internal, text, text) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_union_sfunc';
CREATE FUNCTION _crdt_final_text(internal) RETURNS text
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_final_text';
CREATE AGGREGATE crdt_union(text, text) (
  SFUNC = _crdt_union_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_text,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_concat_sfunc(internal, text) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_concat_sfunc';
CREATE AGGREGATE crdt_concat(text) (
  SFUNC = _crdt_concat_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_text,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_concat_sfunc(internal, text, text) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_concat_sfunc';
CREATE AGGREGATE crdt_concat(text, text) (
  SFUNC = _crdt_concat_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_text,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_gcounter_sfunc(internal, "any", bigint) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_gcounter_sfunc';
CREATE FUNCTION _crdt_final_bytea(internal) RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_final_bytea';
CREATE AGGREGATE crdt_gcounter("any", bigint) (
  SFUNC = _crdt_gcounter_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_pncounter_sfunc(internal, "any", bigint, bigint) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_pncounter_sfunc';
CREATE AGGREGATE crdt_pncounter("any", bigint, bigint) (
  SFUNC = _crdt_pncounter_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_state_merge_agg_sfunc(internal, bytea) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_state_merge_agg_sfunc';
CREATE AGGREGATE crdt_state_merge_agg(bytea) (
  SFUNC = _crdt_state_merge_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);

-- Sketch constructors (docs/sketches.md): parameters are constants; the state is the sketch.
CREATE FUNCTION _crdt_hll_agg_sfunc(internal, "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hll_agg_sfunc';
CREATE FUNCTION _crdt_hll_agg_sfunc(internal, "any", bigint) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hll_agg_sfunc';
CREATE FUNCTION _crdt_hll_agg_sfunc(internal, "any", bigint, text) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hll_agg_sfunc';
CREATE AGGREGATE crdt_hll_agg("any") (
  SFUNC = _crdt_hll_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE AGGREGATE crdt_hll_agg("any", bigint) (
  SFUNC = _crdt_hll_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE AGGREGATE crdt_hll_agg("any", bigint, text) (
  SFUNC = _crdt_hll_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_theta_agg_sfunc(internal, "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_theta_agg_sfunc';
CREATE FUNCTION _crdt_theta_agg_sfunc(internal, "any", bigint) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_theta_agg_sfunc';
CREATE AGGREGATE crdt_theta_agg("any") (
  SFUNC = _crdt_theta_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE AGGREGATE crdt_theta_agg("any", bigint) (
  SFUNC = _crdt_theta_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_bloom_agg_sfunc(internal, "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_bloom_agg_sfunc';
CREATE FUNCTION _crdt_bloom_agg_sfunc(internal, "any", bigint, double precision) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_bloom_agg_sfunc';
CREATE AGGREGATE crdt_bloom_agg("any") (
  SFUNC = _crdt_bloom_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE AGGREGATE crdt_bloom_agg("any", bigint, double precision) (
  SFUNC = _crdt_bloom_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_cms_agg_sfunc(internal, "any", "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_cms_agg_sfunc';
CREATE FUNCTION _crdt_cms_agg_sfunc(internal, "any", "any", bigint) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_cms_agg_sfunc';
CREATE FUNCTION _crdt_cms_agg_sfunc(internal, "any", "any", bigint, bigint, bigint) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_cms_agg_sfunc';
CREATE AGGREGATE crdt_cms_agg("any", "any") (
  SFUNC = _crdt_cms_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE AGGREGATE crdt_cms_agg("any", "any", bigint) (
  SFUNC = _crdt_cms_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE AGGREGATE crdt_cms_agg("any", "any", bigint, bigint, bigint) (
  SFUNC = _crdt_cms_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_minhash_agg_sfunc(internal, "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_minhash_agg_sfunc';
CREATE FUNCTION _crdt_minhash_agg_sfunc(internal, "any", bigint) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_minhash_agg_sfunc';
CREATE FUNCTION _crdt_minhash_agg_sfunc(internal, "any", bigint, bigint) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_minhash_agg_sfunc';
CREATE AGGREGATE crdt_minhash_agg("any") (
  SFUNC = _crdt_minhash_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE AGGREGATE crdt_minhash_agg("any", bigint) (
  SFUNC = _crdt_minhash_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE AGGREGATE crdt_minhash_agg("any", bigint, bigint) (
  SFUNC = _crdt_minhash_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_bytea,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);

-- Scalars.
CREATE FUNCTION crdt_lww_join(v1 anycompatible, ts1 "any", v2 anycompatible, ts2 "any") RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_lww_join';
CREATE FUNCTION crdt_lww_join(v1 anycompatible, ts1 "any", r1 "any", v2 anycompatible, ts2 "any", r2 "any") RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_lww_join';
CREATE FUNCTION crdt_lww_nullable_join(v1 anycompatible, ts1 "any", v2 anycompatible, ts2 "any") RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_lww_nullable_join';
CREATE FUNCTION crdt_lww_nullable_join(v1 anycompatible, ts1 "any", r1 "any", v2 anycompatible, ts2 "any", r2 "any") RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_lww_nullable_join';
CREATE FUNCTION crdt_max_join(a anycompatible, b anycompatible) RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_max_join';
CREATE FUNCTION crdt_min_join(a anycompatible, b anycompatible) RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_min_join';
CREATE FUNCTION crdt_priority_join(a anycompatible, b anycompatible, levels anycompatiblearray) RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_priority_join';
CREATE FUNCTION crdt_longest_join(v1 anycompatible, ts1 "any", v2 anycompatible, ts2 "any") RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_longest_join';
CREATE FUNCTION crdt_longest_join(v1 anycompatible, ts1 "any", r1 "any", v2 anycompatible, ts2 "any", r2 "any") RETURNS anycompatible
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_longest_join';
CREATE FUNCTION crdt_union_join(list1 anycompatiblearray, list2 anycompatiblearray) RETURNS anycompatiblearray
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_union_join';
CREATE FUNCTION crdt_union_join(text1 text, text2 text, sep text) RETURNS text
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_union_join';
CREATE FUNCTION crdt_concat_join(text1 text, text2 text) RETURNS text
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_concat_join';
CREATE FUNCTION crdt_concat_join(text1 text, text2 text, sep text) RETURNS text
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_concat_join';
CREATE FUNCTION crdt_state_merge(a bytea, b bytea) RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_state_merge';
CREATE FUNCTION crdt_counter_value(state bytea) RETURNS bigint
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_counter_value';
CREATE FUNCTION crdt_typeof(state bytea) RETURNS text
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_typeof';
CREATE FUNCTION crdt_to_json(state bytea) RETURNS text
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_to_json';
CREATE FUNCTION crdt_hll_count(state bytea) RETURNS bigint
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hll_count';
-- bytea, not hll: the hll type exists only where CREATE EXTENSION hll ran; cast there (::hll).
CREATE FUNCTION crdt_hll_to_pg_hll(state bytea) RETURNS bytea
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hll_to_pg_hll';
CREATE FUNCTION crdt_hll_from_pg_hll(bytes bytea) RETURNS bytea
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hll_from_pg_hll';
CREATE FUNCTION crdt_hll_to_datasketches(state bytea) RETURNS bytea
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hll_to_datasketches';
CREATE FUNCTION crdt_hll_from_datasketches(bytes bytea) RETURNS bytea
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hll_from_datasketches';
CREATE FUNCTION crdt_theta_count(state bytea) RETURNS bigint
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_theta_count';
CREATE FUNCTION crdt_theta_union(a bytea, b bytea) RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_theta_union';
CREATE FUNCTION crdt_theta_intersect(a bytea, b bytea) RETURNS bytea
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_theta_intersect';
CREATE FUNCTION crdt_bloom_contains(state bytea, value "any") RETURNS boolean
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_bloom_contains';
CREATE FUNCTION crdt_cms_estimate(state bytea, value "any") RETURNS bigint
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_cms_estimate';
CREATE FUNCTION crdt_jaccard(a bytea, b bytea) RETURNS double precision
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_jaccard';
-- Band hashes are UBIGINT elsewhere; Postgres has no unsigned type, so numeric[].
CREATE FUNCTION crdt_minhash_bands(state bytea, b bigint, r bigint) RETURNS numeric[]
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_minhash_bands';
CREATE FUNCTION crdt_hlc(ms bigint, counter bigint) RETURNS bigint
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hlc';
CREATE FUNCTION crdt_hlc_ms(h bigint) RETURNS bigint
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hlc_ms';
CREATE FUNCTION crdt_hlc_counter(h bigint) RETURNS bigint
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_hlc_counter';
CREATE FUNCTION crdt_version() RETURNS text
  STABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_version';

-- Row ids and table digests (docs/sync.md). A row is a record: `t` (the whole row) or ROW(...).
-- The digests are groups (sum and count), combined by adding partial states; with no rows they
-- give the empty set's digest, never NULL.
CREATE FUNCTION crdt_row_id(key "any", "row" "any") RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_row_id';
CREATE FUNCTION crdt_content_id(key "any", "row" "any") RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_content_id';
CREATE FUNCTION crdt_content_id(key "any", "row" "any", metadata text[]) RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_content_id';
CREATE FUNCTION crdt_fingerprint(state bytea) RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_fingerprint';
CREATE FUNCTION crdt_fingerprint_add(state bytea, id bytea) RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_fingerprint_add';
CREATE FUNCTION crdt_fingerprint_sub(state bytea, id bytea) RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_fingerprint_sub';
CREATE FUNCTION crdt_sync_key(ts "any", id bytea) RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_sync_key';
CREATE FUNCTION _crdt_final_fingerprint(internal) RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_final_fingerprint';
CREATE FUNCTION _crdt_final_fingerprint_state(internal) RETURNS bytea
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_agg_final_fingerprint_state';
CREATE FUNCTION _crdt_fingerprint_agg_sfunc(internal, bytea) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_fingerprint_agg_sfunc';
CREATE AGGREGATE crdt_fingerprint_agg(bytea) (
  SFUNC = _crdt_fingerprint_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_fingerprint,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_fingerprint_state_agg_sfunc(internal, bytea) RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_fingerprint_state_agg_sfunc';
CREATE AGGREGATE crdt_fingerprint_state_agg(bytea) (
  SFUNC = _crdt_fingerprint_state_agg_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_fingerprint_state,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);
CREATE FUNCTION _crdt_table_digest_sfunc(internal, "any", "any") RETURNS internal
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_table_digest_sfunc';
CREATE AGGREGATE crdt_table_digest("any", "any") (
  SFUNC = _crdt_table_digest_sfunc, STYPE = internal,
  FINALFUNC = _crdt_final_fingerprint,
  COMBINEFUNC = _crdt_combine, SERIALFUNC = _crdt_serial, DESERIALFUNC = _crdt_deserial,
  PARALLEL = SAFE
);

-- JSON documents (docs/sync.md): a lawful deep merge; cast json/jsonb to text.
CREATE FUNCTION crdt_json_merge(a text, b text) RETURNS text
  IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_json_merge';

-- E4 trust (crates/crdt-merge-e4, a catalogue extension; docs/trust.md).
CREATE FUNCTION crdt_verify(delta bytea, pki bytea) RETURNS boolean
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_verify';
CREATE FUNCTION crdt_verified_payload(delta bytea, pki bytea) RETURNS bytea
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_verified_payload';
CREATE FUNCTION crdt_delta_rows(delta bytea, pki bytea) RETURNS text
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_delta_rows';
-- With a context: also refuse a delta signed for another dataset (a replay).
CREATE FUNCTION crdt_verify(delta bytea, pki bytea, context text) RETURNS boolean
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_verify';
CREATE FUNCTION crdt_verified_payload(delta bytea, pki bytea, context text) RETURNS bytea
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_verified_payload';
CREATE FUNCTION crdt_delta_rows(delta bytea, pki bytea, context text) RETURNS text
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_delta_rows';
CREATE FUNCTION crdt_signed_payload(delta bytea) RETURNS bytea
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'crdt_signed_payload';
