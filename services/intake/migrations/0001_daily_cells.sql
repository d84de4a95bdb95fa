-- The additive fact: one receiving center, one procedure, one calendar day. A push sets the values (a snapshot
-- of that day), it never adds to them.
CREATE TABLE daily_cell (
    center_code              text NOT NULL,
    procedure_code           text NOT NULL,
    day                      date NOT NULL,
    received_direct          bigint NOT NULL CHECK (received_direct >= 0),
    received_online          bigint NOT NULL CHECK (received_online >= 0),
    received_postal          bigint NOT NULL CHECK (received_postal >= 0),
    resolved_early           bigint NOT NULL CHECK (resolved_early >= 0),
    resolved_on_time         bigint NOT NULL CHECK (resolved_on_time >= 0),
    resolved_late            bigint NOT NULL CHECK (resolved_late >= 0),
    withdrawn_or_returned    bigint NOT NULL CHECK (withdrawn_or_returned >= 0),
    results_returned_by_post bigint NOT NULL CHECK (results_returned_by_post >= 0),
    apology_notices_issued   bigint NOT NULL CHECK (apology_notices_issued >= 0),
    pending_in_time          bigint NOT NULL CHECK (pending_in_time >= 0),
    pending_overdue          bigint NOT NULL CHECK (pending_overdue >= 0),
    computed_at              timestamptz,
    sender                   text NOT NULL,
    first_pushed_at          timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_code, day, procedure_code)
);

-- Every accepted change of a cell, in order: its first value (old_measures NULL) and each correction.
-- Measures are in the order of the daily_cell columns.
CREATE TABLE daily_cell_change (
    id             bigserial PRIMARY KEY,
    center_code    text NOT NULL,
    procedure_code text NOT NULL,
    day            date NOT NULL,
    old_measures   bigint[],
    new_measures   bigint[] NOT NULL,
    sender         text NOT NULL,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX daily_cell_change_cell ON daily_cell_change (center_code, day, procedure_code);
