-- Forms are data, as indicators are: the title, form number, issuing circular, unit of count, column headings and
-- signature blocks of an official form, versioned. A new circular is a new version (DefineForm), not new code; a
-- report uses the version in force on its period's last day, and says which.
CREATE TABLE form_definition (
    form             text NOT NULL,
    version          integer NOT NULL CHECK (version > 0),
    form_number      text NOT NULL,
    circular         text NOT NULL,
    title            text NOT NULL,
    unit_of_count    text NOT NULL,
    valid_from       date NOT NULL,
    -- Signature blocks left to right: each title ("NGƯỜI LẬP BIỂU") with the note under it.
    signature_titles text[] NOT NULL,
    signature_notes  text[] NOT NULL CHECK (cardinality(signature_notes) = cardinality(signature_titles)),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (form, version)
);

-- The headings over each column, outermost first; neighbouring columns sharing leading headings are printed under
-- one merged heading. What feeds each column is fixed by its number.
CREATE TABLE form_column (
    form     text NOT NULL,
    version  integer NOT NULL,
    number   integer NOT NULL CHECK (number > 0),
    headings text[] NOT NULL CHECK (cardinality(headings) > 0),
    PRIMARY KEY (form, version, number),
    FOREIGN KEY (form, version) REFERENCES form_definition
);

-- Biểu 06/VPCP/KSTT of Circular 01/2020/TT-VPCP (21 October 2020, in force from 5 December 2020).
INSERT INTO form_definition
    (form, version, form_number, circular, title, unit_of_count, valid_from, signature_titles, signature_notes)
VALUES ('06', 1, 'Biểu số 06/VPCP/KSTT', 'Thông tư số 01/2020/TT-VPCP',
        'TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH TẠI CƠ QUAN, ĐƠN VỊ TRỰC TIẾP GIẢI QUYẾT TTHC',
        'Số hồ sơ TTHC', '2020-12-05',
        ARRAY['NGƯỜI LẬP BIỂU', 'THỦ TRƯỞNG ĐƠN VỊ'],
        ARRAY['(Ký, ghi rõ họ tên)', '(Ký tên, đóng dấu)']);

INSERT INTO form_column (form, version, number, headings) VALUES
    ('06', 1, 1, ARRAY['STT']),
    ('06', 1, 2, ARRAY['Lĩnh vực, công việc giải quyết theo cấp']),
    ('06', 1, 3, ARRAY['Số hồ sơ nhận giải quyết', 'Tổng số']),
    ('06', 1, 4, ARRAY['Số hồ sơ nhận giải quyết', 'Trong kỳ', 'Trực tuyến']),
    ('06', 1, 5, ARRAY['Số hồ sơ nhận giải quyết', 'Trong kỳ', 'Trực tiếp, dịch vụ bưu chính']),
    ('06', 1, 6, ARRAY['Số hồ sơ nhận giải quyết', 'Từ kỳ trước']),
    ('06', 1, 7, ARRAY['Số hồ sơ đã giải quyết', 'Tổng số']),
    ('06', 1, 8, ARRAY['Số hồ sơ đã giải quyết', 'Trước hạn']),
    ('06', 1, 9, ARRAY['Số hồ sơ đã giải quyết', 'Đúng hạn']),
    ('06', 1, 10, ARRAY['Số hồ sơ đã giải quyết', 'Quá hạn']),
    ('06', 1, 11, ARRAY['Số hồ sơ đang giải quyết', 'Tổng số']),
    ('06', 1, 12, ARRAY['Số hồ sơ đang giải quyết', 'Trong hạn']),
    ('06', 1, 13, ARRAY['Số hồ sơ đang giải quyết', 'Quá hạn']);
