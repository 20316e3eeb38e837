-- 0009_signals_lean: cheaper signal inserts, same guarantees.
-- signal-ingest stores every webhook, so the cost of one signals row is
-- the ingester's throughput (bench/ingest). Two costs go:
--
-- 1. raw and indicators become json. signal-ingest sends both as JSON
--    text it has already checked and nothing queries inside them; jsonb
--    made PostgreSQL decompose each message into its binary form. json
--    keeps the text as it came, so raw is now exactly the webhook body
--    (key order and all). A reader that needs jsonb operators casts
--    (raw::jsonb). Rewrites the table once, under its lock.
--
-- 2. The foreign key signals.strategy_id -> strategies(id) becomes one
--    check per INSERT statement instead of one per row. A foreign key
--    runs a query per inserted row and locks the strategies row FOR KEY
--    SHARE (two committing batches for one strategy make PostgreSQL
--    build a MultiXact). The same rule, kept by triggers:
--    - AFTER INSERT ... FOR EACH STATEMENT on signals: every new row's
--      strategy exists, else foreign_key_violation (23503), as before;
--    - strategies rows are never deleted while signals name them (the
--      application only soft-deletes): BEFORE DELETE refuses with 23503
--      as ON DELETE RESTRICT did; it first takes SHARE on signals, so a
--      delete waits for inserts in flight and then sees them, and an
--      insert waits for a delete and then finds the strategy gone;
--    - a strategy's id never changes, and strategies is never
--      truncated while signals exist.

ALTER TABLE signals
    DROP CONSTRAINT signals_raw_object,
    DROP CONSTRAINT signals_indicators_object,
    DROP CONSTRAINT signals_strategy_id_fkey;

ALTER TABLE signals
    ALTER COLUMN raw TYPE json USING raw::json,
    ALTER COLUMN indicators DROP DEFAULT,
    ALTER COLUMN indicators TYPE json USING indicators::json,
    ALTER COLUMN indicators SET DEFAULT '{}'::json;

ALTER TABLE signals
    ADD CONSTRAINT signals_raw_object
        CHECK (json_typeof(raw) = 'object'),
    ADD CONSTRAINT signals_indicators_object
        CHECK (json_typeof(indicators) = 'object');

CREATE FUNCTION btcw_signals_strategy_exists() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing integer;
BEGIN
    SELECT n.strategy_id INTO missing
      FROM (SELECT DISTINCT strategy_id FROM new_signals) n
     WHERE NOT EXISTS (SELECT 1 FROM strategies s
                        WHERE s.id = n.strategy_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert on table "signals" violates the rule '
            '"signals_strategy_id_fkey"'
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'signals_strategy_id_fkey',
                  DETAIL = format('Key (strategy_id)=(%s) is not present '
                                  'in table "strategies".', missing);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER signals_strategy_exists
    AFTER INSERT ON signals
    REFERENCING NEW TABLE AS new_signals
    FOR EACH STATEMENT EXECUTE FUNCTION btcw_signals_strategy_exists();

CREATE FUNCTION btcw_strategies_keep_referenced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id <> OLD.id THEN
            RAISE EXCEPTION 'the id of strategy % cannot change', OLD.id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NEW;
    END IF;
    LOCK TABLE signals IN SHARE MODE;
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM signals) THEN
            RAISE EXCEPTION 'cannot truncate "strategies": signals '
                'reference it' USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM signals WHERE strategy_id = OLD.id) THEN
        RAISE EXCEPTION 'delete on table "strategies" violates the rule '
            '"signals_strategy_id_fkey" on table "signals"'
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'signals_strategy_id_fkey',
                  DETAIL = format('Key (id)=(%s) is still referenced from '
                                  'table "signals".', OLD.id);
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER strategies_keep_referenced
    BEFORE DELETE OR UPDATE OF id ON strategies
    FOR EACH ROW EXECUTE FUNCTION btcw_strategies_keep_referenced();
CREATE TRIGGER strategies_no_truncate_referenced
    BEFORE TRUNCATE ON strategies
    FOR EACH STATEMENT EXECUTE FUNCTION btcw_strategies_keep_referenced();

COMMENT ON FUNCTION btcw_signals_strategy_exists() IS
    'signals.strategy_id must name a strategies row: checked once per '
    'INSERT statement (it replaces a per-row foreign key; 0009).';
COMMENT ON FUNCTION btcw_strategies_keep_referenced() IS
    'A strategies row that signals name is never deleted, truncated or '
    'renumbered (the other half of signals_strategy_exists; 0009).';
