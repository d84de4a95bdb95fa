-- Office-ready answers: each indicator definition carries a Vietnamese and an English label and how its value
-- is displayed (PERCENT: value x 100 with a % sign; COUNT: the numerator as a number) and whether a lower value is
-- the better one (a late rate: rankings put the lowest first), and aggregation keeps each case's apology notices so
-- a provincial office reads them without asking intake.
ALTER TABLE indicator_definition
    ADD COLUMN label_vi     text NOT NULL DEFAULT '',
    ADD COLUMN label_en     text NOT NULL DEFAULT '',
    ADD COLUMN display_unit smallint NOT NULL DEFAULT 1 CHECK (display_unit IN (1, 2)), -- 1 percent, 2 count
    ADD COLUMN lower_is_better boolean NOT NULL DEFAULT false;

UPDATE indicator_definition SET label_en = description WHERE label_en = '';
UPDATE indicator_definition SET lower_is_better = true WHERE id = 'late_rate_gia_lai';
UPDATE indicator_definition d SET label_vi = l.vi, label_en = l.en FROM (VALUES
    ('online_case_share', 'Tỷ lệ hồ sơ tiếp nhận trực tuyến', 'Cases received online'),
    ('postal_filing_share', 'Tỷ lệ hồ sơ nộp qua dịch vụ bưu chính công ích', 'Cases filed by public postal service'),
    ('postal_return_share', 'Tỷ lệ kết quả trả qua dịch vụ bưu chính công ích',
     'Results returned by public postal service'),
    ('on_time_rate_form06', 'Tỷ lệ hồ sơ giải quyết trước và đúng hạn (Mẫu 06)', 'Cases resolved early or on time (form 06)'),
    ('on_time_rate_766', 'Tiến độ giải quyết: hồ sơ đúng hạn và còn hạn (QĐ 766, chỉ số 2.1)',
     'Progress: cases resolved or pending in time (Decision 766, indicator 2.1)'),
    ('late_rate_gia_lai', 'Tỷ lệ hồ sơ trễ hạn (kể cả đang giải quyết quá hạn)',
     'Late cases, resolved late or pending overdue'),
    ('full_online_case_share', 'Tỷ lệ hồ sơ trực tuyến toàn trình (QĐ 766)',
     'Cases received online for full online procedures (Decision 766)'),
    ('procedures_offered_online', 'Tỷ lệ thủ tục cung cấp dịch vụ công trực tuyến',
     'Procedures offered online (full or partial)'),
    ('procedures_offered_fully_online', 'Tỷ lệ thủ tục cung cấp dịch vụ công trực tuyến toàn trình',
     'Procedures offered fully online'),
    ('procedures_with_online_cases', 'Tỷ lệ thủ tục trực tuyến có phát sinh hồ sơ trực tuyến',
     'Online procedures with at least one online case'),
    ('apology_coverage', 'Tỷ lệ hồ sơ trễ hạn có văn bản xin lỗi', 'Late cases with an apology notice'),
    ('apology_timeliness', 'Tỷ lệ văn bản xin lỗi gửi đúng thời hạn', 'Apology notices issued in time'),
    ('reporting_completeness', 'Tỷ lệ ngày báo cáo đầy đủ, đúng hạn của các bộ phận một cửa',
     'Center working days reported on time')
) AS l (id, vi, en)
WHERE d.id = l.id;

-- The notices of each case, in the order the record lists them.
CREATE TABLE apology_notice (
    case_code           text NOT NULL REFERENCES case_record (case_code) ON DELETE CASCADE,
    position            integer NOT NULL,
    notice_number       text NOT NULL,
    issuing_agency_code text NOT NULL,
    issued_on           date NOT NULL,
    reason              text NOT NULL,
    reason_category     smallint NOT NULL,
    original_due_date   date NOT NULL,
    new_due_date        date NOT NULL,
    delivery            smallint NOT NULL,
    PRIMARY KEY (case_code, position)
);
