-- A sweep's analysis (overfitting statistics, walk-forward) is computed once every variant
-- has ended: the dispatcher asks "has this sweep an unfinished variant?" each time it
-- finishes a batch of one, which this small index (open rows only) answers at once.
CREATE INDEX runs_sweep_open_idx ON runs (sweep_id) WHERE status IN ('queued', 'running');

-- A single run carries its spec hash from its insert (sweep variants have had it since 007),
-- so that the dispatcher can finish it from an equal finished run (`reused_from`).
DROP FUNCTION qbt_submit_run(integer, uuid, text, jsonb, text, text, integer);

CREATE FUNCTION qbt_submit_run(
    p_lock_space integer, p_id uuid, p_owner text, p_spec jsonb, p_data_version text,
    p_key text, p_limit integer, p_spec_hash text
) RETURNS TABLE (active bigint, id uuid, status text, data_version text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock_space, hashtext(p_owner));
    SELECT count(*) INTO active FROM runs r
    WHERE r.owner = p_owner AND r.sweep_id IS NULL AND r.status IN ('queued', 'running');
    IF active < p_limit THEN
        INSERT INTO runs AS r (id, owner, spec, data_version, idempotency_key, spec_hash)
        VALUES (p_id, p_owner, p_spec, p_data_version, p_key, p_spec_hash)
        ON CONFLICT (owner, idempotency_key) DO NOTHING
        RETURNING r.id, r.status, r.data_version INTO id, status, data_version;
        IF id IS NOT NULL THEN
            PERFORM pg_notify('qbt_runs', '');
        END IF;
    END IF;
    RETURN NEXT;
END
$$;
