-- Changes of a followed stream that could not be applied because of what they hold, kept for operators with
-- the reason; the stream went on past them.
CREATE TABLE set_aside_change (
    source       text NOT NULL,
    cursor       text NOT NULL,
    summary      text NOT NULL,
    change       bytea NOT NULL, -- the stream's message (protobuf)
    reason       text NOT NULL,
    set_aside_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, cursor)
);
CREATE INDEX set_aside_change_time ON set_aside_change (set_aside_at);
