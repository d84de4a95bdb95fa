//! A small province to test with: its units, centers, and a decision announcing three procedures.

use onestop_proto::catalogue::v1::*;

/// The province, a commune under it, and their centers.
pub const PROVINCE: &str = "46";
pub const COMMUNE: &str = "19753";
pub const PROVINCIAL_CENTER: &str = "TTPVHCC-46";
pub const COMMUNE_CENTER: &str = "BPMC-19753";

/// Three procedures: fully online, partly online, and without online service.
pub const FULL_PROCEDURE: &str = "1.000948";
pub const PARTIAL_PROCEDURE: &str = "2.001218.000.00.00.H38";
pub const OFFLINE_PROCEDURE: &str = "1.004227";

pub fn units() -> Vec<AdministrativeUnit> {
    vec![
        AdministrativeUnit {
            code: PROVINCE.into(),
            name: "Tỉnh Quảng Trị".into(),
            level: UnitLevel::Province as i32,
            parent_code: String::new(),
            valid_from: "2025-07-01".into(),
            valid_to: String::new(),
            predecessor_codes: vec![],
        },
        AdministrativeUnit {
            code: COMMUNE.into(),
            name: "Phường Đồng Hới".into(),
            level: UnitLevel::Commune as i32,
            parent_code: PROVINCE.into(),
            valid_from: "2025-07-01".into(),
            valid_to: String::new(),
            predecessor_codes: vec![],
        },
    ]
}

pub fn centers() -> Vec<Center> {
    vec![
        Center {
            code: PROVINCIAL_CENTER.into(),
            name: "Trung tâm Phục vụ hành chính công tỉnh".into(),
            unit_code: PROVINCE.into(),
            kind: CenterKind::Provincial as i32,
            parent_center_code: String::new(),
        },
        Center {
            code: COMMUNE_CENTER.into(),
            name: "Bộ phận Một cửa phường Đồng Hới".into(),
            unit_code: COMMUNE.into(),
            kind: CenterKind::Local as i32,
            parent_center_code: String::new(),
        },
    ]
}

pub fn procedure(code: &str, name: &str, online_level: OnlineLevel) -> Procedure {
    Procedure {
        code: code.into(),
        name: name.into(),
        sector_code: "HOTICH".into(),
        implementing_levels: vec![ImplementingLevel::Commune as i32],
        implementing_agency: "UBND cấp xã".into(),
        processing_time: Some(ProcessingTime { value: 3, unit: TimeUnit::WorkingDays as i32 }),
        has_fees: false,
        online_level: online_level as i32,
        legacy_online_level: 0,
        postal_filing: true,
        postal_return: true,
        ..Default::default()
    }
}

/// A decision announcing the three procedures, in force from 1 January 2026.
pub fn decision() -> PublicationDecision {
    let new = |procedure| DecisionItem {
        action: DecisionAction::New as i32,
        procedure: Some(procedure),
        ..Default::default()
    };
    PublicationDecision {
        number: "125/QĐ-UBND".into(),
        signed_on: "2025-12-20".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: "2026-01-01".into(),
        items: vec![
            new(procedure(FULL_PROCEDURE, "Đăng ký khai sinh", OnlineLevel::Full)),
            new(procedure(PARTIAL_PROCEDURE, "Đăng ký kết hôn", OnlineLevel::Partial)),
            new(procedure(OFFLINE_PROCEDURE, "Chứng thực bản sao", OnlineLevel::None)),
        ],
        ..Default::default()
    }
}

/// The sectors the fixture procedures belong to.
pub fn sectors() -> Vec<Sector> {
    vec![
        Sector { code: "HOTICH".into(), name: "Hộ tịch".into() },
        Sector { code: "CHUNGTHUC".into(), name: "Chứng thực".into() },
    ]
}

/// The list saying `center` receives the three fixture procedures from 1 January 2026.
pub fn center_procedures(center: &str) -> SetCenterProceduresRequest {
    SetCenterProceduresRequest {
        center_code: center.into(),
        effective_from: "2026-01-01".into(),
        procedure_codes: vec![FULL_PROCEDURE.into(), PARTIAL_PROCEDURE.into(), OFFLINE_PROCEDURE.into()],
        source: "Quyết định 126/QĐ-UBND".into(),
    }
}

/// The agencies that resolve the fixture procedures.
pub fn agencies() -> Vec<Agency> {
    vec![
        Agency {
            code: "STP-46".into(),
            name: "Sở Tư pháp".into(),
            unit_code: PROVINCE.into(),
            kind: AgencyKind::ProvincialDepartment as i32,
        },
        Agency {
            code: "UBND-19753".into(),
            name: "UBND phường Đồng Hới".into(),
            unit_code: COMMUNE.into(),
            kind: AgencyKind::PeoplesCommittee as i32,
        },
    ]
}
