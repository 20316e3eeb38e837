-- 0001_common: helper functions that later migrations use.
--
-- Rules for every file in libcommon/schema (see README.md): applied once,
-- in name order, each in its own transaction by the migrations runner;
-- no BEGIN/COMMIT, no CREATE INDEX CONCURRENTLY, no psql meta-commands;
-- never edited once released.

-- BEFORE UPDATE trigger: keeps a table's updated_at column current, so no
-- writer can forget it.
CREATE FUNCTION btcw_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION btcw_touch_updated_at() IS
    'BEFORE UPDATE row trigger: sets NEW.updated_at to now().';

-- BEFORE UPDATE/DELETE/TRUNCATE trigger for tables whose rows are kept
-- forever. A migration that really must rewrite rows disables it for its
-- own transaction (ALTER TABLE ... DISABLE TRIGGER ..., then ENABLE).
CREATE FUNCTION btcw_forbid_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on table % is not allowed: its rows are kept forever',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;

COMMENT ON FUNCTION btcw_forbid_change() IS
    'Trigger that rejects the statement (SQLSTATE 23001): protects tables '
    'whose rows are kept forever from UPDATE, DELETE or TRUNCATE.';
