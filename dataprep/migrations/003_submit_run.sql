-- Queue one run under its owner's limit, in one statement (one round trip from the API).
-- The owner's advisory lock (key space 20919, released at commit) makes concurrent submits of
-- one owner count and insert one after another, so together they never pass the limit. In a
-- PL/pgSQL function each statement takes a fresh snapshot (READ COMMITTED), so the count that
-- follows the lock sees every run committed by the submit that held it before.
-- Returns the owner's unfinished single runs before this one, and the new run (all NULL when
-- the limit was reached, or when the Idempotency-Key already exists for this owner).
CREATE FUNCTION qbt_submit_run(
    p_id uuid, p_owner text, p_spec jsonb, p_data_version text, p_key text, p_limit integer
) RETURNS TABLE (active bigint, id uuid, status text, data_version text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(20919, hashtext(p_owner));
    SELECT count(*) INTO active FROM runs r
    WHERE r.owner = p_owner AND r.sweep_id IS NULL AND r.status IN ('queued', 'running');
    IF active < p_limit THEN
        INSERT INTO runs AS r (id, owner, spec, data_version, idempotency_key)
        VALUES (p_id, p_owner, p_spec, p_data_version, p_key)
        ON CONFLICT (owner, idempotency_key) DO NOTHING
        RETURNING r.id, r.status, r.data_version INTO id, status, data_version;
        IF id IS NOT NULL THEN
            PERFORM pg_notify('qbt_runs', '');
        END IF;
    END IF;
    RETURN NEXT;
END
$$;
