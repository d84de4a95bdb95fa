-- Indicators are data: a numerator and a denominator, each a sum of measures ("a + b"), or "carried_over" for the
-- pending stock at the end of the day before the period. A province's own variant is a new row, not new code;
-- a changed definition is a new version, and every result says which version produced it.
CREATE TABLE indicator_definition (
    id          text NOT NULL,
    version     integer NOT NULL CHECK (version > 0),
    numerator   text NOT NULL,
    denominator text NOT NULL,
    description text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, version)
);

INSERT INTO indicator_definition (id, version, numerator, denominator, description) VALUES
    ('online_case_share', 1,
     'received_online',
     'received_direct + received_online + received_postal',
     'Share of cases received online'),
    ('postal_filing_share', 1,
     'received_postal',
     'received_direct + received_online + received_postal',
     'Share of cases filed through the public postal service'),
    ('postal_return_share', 1,
     'results_returned_by_post',
     'resolved_early + resolved_on_time + resolved_late',
     'Results returned by public postal service per resolved case'),
    ('on_time_rate_form06', 1,
     'resolved_early + resolved_on_time',
     'resolved_early + resolved_on_time + resolved_late',
     'On-time rate as in form 06: resolved early or on time per resolved case'),
    ('on_time_rate_766', 1,
     'resolved_early + resolved_on_time + pending_in_time',
     'resolved_early + resolved_on_time + resolved_late + pending_in_time + pending_overdue',
     'Decision 766 indicator 2.1: resolved or pending in time per resolved and pending case'),
    ('late_rate_gia_lai', 1,
     'resolved_late + pending_overdue',
     'received_direct + received_online + received_postal + carried_over',
     'Late cases (resolved late or pending overdue) per case received in the period or carried over');
