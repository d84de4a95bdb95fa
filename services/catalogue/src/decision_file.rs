//! A decision's items read from a CSV or XLSX file, one procedure per row. The columns are documented in
//! docs/catalogue-files.md; values may be written in English (`FULL`) or Vietnamese (`toàn trình`).

use onestop_domain::Violations;
use onestop_proto::catalogue::v1::*;
use onestop_server::{ServiceError, ServiceResult};

use crate::files::{cell_field, parse_flag, Table};

/// The columns of a decision file, in their documented order.
pub const COLUMNS: [&str; 16] = [
    "action",
    "code",
    "name",
    "sector_code",
    "implementing_levels",
    "implementing_agency",
    "processing_time_value",
    "processing_time_unit",
    "has_fees",
    "online_level",
    "legacy_online_level",
    "postal_filing",
    "postal_return",
    "replaces_code",
    "channel_processing_times",
    "implementing_agency_code",
];

/// The items of a decision file, with the row number of each; or every cell that could not be read, or why the
/// file could not be read at all.
pub fn read(format: FileFormat, content: &[u8]) -> ServiceResult<(Vec<DecisionItem>, Vec<usize>)> {
    let table = Table::read(format, content)?;
    table.require(&["action", "code"])?;
    let mut v = Violations::new();
    let mut items = Vec::with_capacity(table.rows.len());
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let cell = |column: &str| table.get(row, column);
        let parse = |v: &mut Violations, column: &str, result: Result<i32, String>| {
            result.unwrap_or_else(|reason| {
                v.add(cell_field(row.number, column), reason);
                0
            })
        };
        let action = parse(&mut v, "action", action(cell("action")));
        let is_abolition = action == DecisionAction::Abolished as i32;
        let code = |v: &mut Violations, column: &str| {
            table.code(row, column).map(str::to_owned).unwrap_or_else(|reason| {
                v.add(cell_field(row.number, column), reason);
                String::new()
            })
        };
        let mut procedure = Procedure { code: code(&mut v, "code"), ..Default::default() };
        let replaces_code = code(&mut v, "replaces_code");
        if !is_abolition {
            procedure.name = cell("name").to_owned();
            procedure.sector_code = code(&mut v, "sector_code");
            procedure.implementing_agency = cell("implementing_agency").to_owned();
            procedure.implementing_agency_code = cell("implementing_agency_code").to_owned();
            procedure.implementing_levels = match levels(cell("implementing_levels")) {
                Ok(levels) => levels,
                Err(reason) => {
                    v.add(cell_field(row.number, "implementing_levels"), reason);
                    vec![]
                }
            };
            let value = parse(&mut v, "processing_time_value", number(cell("processing_time_value")));
            let unit = parse(&mut v, "processing_time_unit", time_unit(cell("processing_time_unit")));
            procedure.processing_time = Some(ProcessingTime { value: value as u32, unit });
            procedure.legacy_online_level = match cell("legacy_online_level") {
                "" => 0,
                value => parse(&mut v, "legacy_online_level", number(value)) as u32,
            };
            // An empty level beside a legacy one is left for the catalogue to derive from it.
            procedure.online_level = match cell("online_level") {
                "" if procedure.legacy_online_level != 0 => OnlineLevel::Unspecified as i32,
                value => parse(&mut v, "online_level", online_level(value)),
            };
            for (column, target) in [
                ("has_fees", &mut procedure.has_fees),
                ("postal_filing", &mut procedure.postal_filing),
                ("postal_return", &mut procedure.postal_return),
            ] {
                match parse_flag(cell(column)) {
                    Ok(flag) => *target = flag,
                    Err(reason) => v.add(cell_field(row.number, column), reason),
                }
            }
            match channel_times(cell("channel_processing_times")) {
                Ok(times) => procedure.channel_processing_times = times,
                Err(reason) => v.add(cell_field(row.number, "channel_processing_times"), reason),
            }
        }
        items.push(DecisionItem { action, procedure: Some(procedure), replaces_code });
        rows.push(row.number);
    }
    v.into_result()?;
    if items.is_empty() {
        return Err(ServiceError::invalid("content", "the file has no item rows"));
    }
    Ok((items, rows))
}

/// The value among `options` whose names include `value` (case-insensitive).
fn pick(value: &str, options: &[(&[&str], i32)], expected: &str) -> Result<i32, String> {
    let wanted = value.trim().to_lowercase();
    options
        .iter()
        .find(|(names, _)| names.contains(&wanted.as_str()))
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("{value:?} is not one of {expected}"))
}

fn action(value: &str) -> Result<i32, String> {
    pick(
        value,
        &[
            (&["new", "mới", "công bố mới"], DecisionAction::New as i32),
            (&["amended", "sửa đổi", "sửa đổi, bổ sung", "sửa đổi bổ sung"], DecisionAction::Amended as i32),
            (&["replaced", "thay thế"], DecisionAction::Replaced as i32),
            (&["abolished", "bãi bỏ"], DecisionAction::Abolished as i32),
        ],
        "NEW, AMENDED, REPLACED, ABOLISHED",
    )
}

fn online_level(value: &str) -> Result<i32, String> {
    pick(
        value,
        &[
            (&["none", "không", ""], OnlineLevel::None as i32),
            (&["partial", "một phần"], OnlineLevel::Partial as i32),
            (&["full", "toàn trình"], OnlineLevel::Full as i32),
        ],
        "NONE, PARTIAL, FULL",
    )
}

fn time_unit(value: &str) -> Result<i32, String> {
    pick(
        value,
        &[
            (&["working_days", "ngày làm việc"], TimeUnit::WorkingDays as i32),
            (&["days", "ngày"], TimeUnit::Days as i32),
            (&["hours", "giờ"], TimeUnit::Hours as i32),
        ],
        "WORKING_DAYS, DAYS, HOURS",
    )
}

fn channel(value: &str) -> Result<i32, String> {
    pick(
        value,
        &[
            (&["direct", "trực tiếp"], FilingChannel::Direct as i32),
            (&["online", "trực tuyến"], FilingChannel::Online as i32),
            (&["postal", "bưu chính"], FilingChannel::Postal as i32),
        ],
        "DIRECT, ONLINE, POSTAL",
    )
}

fn number(value: &str) -> Result<i32, String> {
    value.trim().parse::<u16>().map(i32::from).map_err(|_| format!("{value:?} is not a whole number"))
}

fn levels(value: &str) -> Result<Vec<i32>, String> {
    value
        .split([';', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            pick(
                l,
                &[
                    (&["ministry", "bộ", "trung ương"], ImplementingLevel::Ministry as i32),
                    (&["province", "tỉnh"], ImplementingLevel::Province as i32),
                    (&["district", "huyện"], ImplementingLevel::District as i32),
                    (&["commune", "xã"], ImplementingLevel::Commune as i32),
                ],
                "MINISTRY, PROVINCE, DISTRICT, COMMUNE",
            )
        })
        .collect()
}

/// `ONLINE=5 WORKING_DAYS; POSTAL=7 DAYS`
fn channel_times(value: &str) -> Result<Vec<ChannelProcessingTime>, String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|entry| {
            let (name, time) = entry.split_once('=').ok_or_else(|| format!("{entry:?} is not CHANNEL=N UNIT"))?;
            let (amount, unit) =
                time.trim().split_once(' ').ok_or_else(|| format!("{entry:?} is not CHANNEL=N UNIT"))?;
            Ok(ChannelProcessingTime {
                channel: channel(name)?,
                processing_time: Some(ProcessingTime { value: number(amount)? as u32, unit: time_unit(unit)? }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_english_and_vietnamese_values_and_names_bad_cells() {
        let csv = "action,code,name,sector_code,implementing_levels,implementing_agency,processing_time_value,\
processing_time_unit,has_fees,online_level,postal_filing,postal_return,channel_processing_times\n\
NEW,1.000948,Đăng ký khai sinh,HOTICH,xã,UBND xã,3,ngày làm việc,không,toàn trình,x,x,ONLINE=2 WORKING_DAYS\n\
Bãi bỏ,1.004227,,,,,,,,,,,\n";
        let (items, rows) = read(FileFormat::Csv, csv.as_bytes()).unwrap();
        assert_eq!(rows, [2, 3]);
        let p = items[0].procedure.as_ref().unwrap();
        assert_eq!(p.online_level, OnlineLevel::Full as i32);
        assert_eq!(p.implementing_levels, [ImplementingLevel::Commune as i32]);
        assert_eq!(p.channel_processing_times[0].channel, FilingChannel::Online as i32);
        assert!(p.postal_filing && !p.has_fees);
        assert_eq!(items[1].action, DecisionAction::Abolished as i32);

        let bad = "action,code,online_level,processing_time_value\nNEW,1.1,FUL,3\nMOVE,1.2,FULL,x\n";
        let Err(ServiceError::InvalidArgument(errors)) = read(FileFormat::Csv, bad.as_bytes()) else {
            panic!("bad cells are invalid arguments");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"rows[2].online_level"), "{fields:?}");
        assert!(fields.contains(&"rows[3].action"), "{fields:?}");
        assert!(fields.contains(&"rows[3].processing_time_value"), "{fields:?}");
    }
}
