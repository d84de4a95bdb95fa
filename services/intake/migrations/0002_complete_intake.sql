-- The change log doubles as the stream's source. Its order is (xid, id): a reader only takes changes of
-- transactions older than every transaction still running (pg_snapshot_xmin), so no change can later appear
-- before one already delivered. Each cell change carries its old and new values, so a consumer that applies
-- differences gets the same totals whatever order two writers of one cell committed in.
ALTER TABLE daily_cell_change
    ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    ADD COLUMN computed_at timestamptz;
CREATE INDEX daily_cell_change_stream ON daily_cell_change (xid, id);

-- When each center's day was first pushed and last changed (reporting completeness).
CREATE TABLE center_day_report (
    center_code     text NOT NULL,
    day             date NOT NULL,
    first_pushed_at timestamptz NOT NULL DEFAULT now(),
    last_changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_code, day)
);

-- Answers kept for idempotency keys: the same key and content gets the same answer.
CREATE TABLE push_batch (
    sender          text NOT NULL,
    idempotency_key text NOT NULL,
    request_digest  bytea NOT NULL,
    response        bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sender, idempotency_key)
);

-- Case records by case code. `record` is the CaseRecord as pushed and `findings` what intake found in it
-- (protobuf); the columns beside them are for filtering.
CREATE TABLE case_record (
    case_code             text PRIMARY KEY,
    procedure_code        text NOT NULL,
    receiving_center_code text NOT NULL,
    resolving_agency_code text NOT NULL,
    received_on           date NOT NULL,
    due_date              date NOT NULL,
    status                smallint NOT NULL,
    outcome               smallint NOT NULL,
    late_without_notice   boolean NOT NULL,
    notice_after_deadline boolean NOT NULL,
    rescheduled_more_than_once boolean NOT NULL,
    record                bytea NOT NULL,
    findings              bytea NOT NULL,
    sender                text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_record_center_received ON case_record (receiving_center_code, received_on);

CREATE TABLE case_change (
    id         bigserial PRIMARY KEY,
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    case_code  text NOT NULL,
    stored     bytea NOT NULL, -- StoredCase (protobuf)
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_change_stream ON case_change (xid, id);
