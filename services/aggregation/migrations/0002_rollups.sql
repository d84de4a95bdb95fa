-- The day totals of each center, kept from intake's change stream: every cell change adds its difference
-- (new − old), so changes may be applied in any order and the totals still come out exact. Stocks are the sum of
-- the center's open cases at the end of the day.
CREATE TABLE center_day (
    center_code              text NOT NULL,
    day                      date NOT NULL,
    received_direct          bigint NOT NULL DEFAULT 0,
    received_online          bigint NOT NULL DEFAULT 0,
    received_postal          bigint NOT NULL DEFAULT 0,
    resolved_early           bigint NOT NULL DEFAULT 0,
    resolved_on_time         bigint NOT NULL DEFAULT 0,
    resolved_late            bigint NOT NULL DEFAULT 0,
    withdrawn_or_returned    bigint NOT NULL DEFAULT 0,
    results_returned_by_post bigint NOT NULL DEFAULT 0,
    apology_notices_issued   bigint NOT NULL DEFAULT 0,
    pending_in_time          bigint NOT NULL DEFAULT 0,
    pending_overdue          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (center_code, day)
);

-- How far each stream has been applied. Written in the same transaction as the roll-up changes it covers, so a
-- restart resumes exactly after the last change applied.
CREATE TABLE stream_cursor (
    source     text PRIMARY KEY,
    cursor     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
