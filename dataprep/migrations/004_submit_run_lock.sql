-- qbt_submit_run takes its advisory lock space from the caller (runtime.names.
-- RUN_SUBMIT_LOCK_SPACE), so the number is written once, in Python. Otherwise as in 003.
DROP FUNCTION qbt_submit_run(uuid, text, jsonb, text, text, integer);

CREATE FUNCTION qbt_submit_run(
    p_lock_space integer, p_id uuid, p_owner text, p_spec jsonb, p_data_version text,
    p_key text, p_limit integer
) RETURNS TABLE (active bigint, id uuid, status text, data_version text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock_space, hashtext(p_owner));
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
