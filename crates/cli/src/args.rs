//! The command line's grammar: every command, flag and its help.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::input;

/// Where the services and the token are given, under every command's own options.
const CONNECTION: &str = "Connection";

#[derive(Debug, Parser)]
#[command(
    name = "onestop",
    about = "Pushes to and reads from onestop.",
    long_about = "Pushes to and reads from onestop: counts and cases from CSV, reference data and decisions, \
                  indicators, rankings, form 06 and late cases.\n\n\
                  Every command takes the services' URLs and a token (ONESTOP_TOKEN, or --token-file, such as \
                  the local run's .onestop/operator-token). See docs/cli.md."
)]
pub struct Args {
    /// The catalogue service's URL.
    #[arg(long, env = "CATALOGUE_URL", default_value = "http://127.0.0.1:50051")]
    #[arg(global = true, help_heading = CONNECTION)]
    pub catalogue_url: String,
    /// The intake service's URL.
    #[arg(long, env = "INTAKE_URL", default_value = "http://127.0.0.1:50052")]
    #[arg(global = true, help_heading = CONNECTION)]
    pub intake_url: String,
    /// The aggregation service's URL.
    #[arg(long, env = "AGGREGATION_URL", default_value = "http://127.0.0.1:50053")]
    #[arg(global = true, help_heading = CONNECTION)]
    pub aggregation_url: String,
    /// The bearer token to call with.
    #[arg(long, env = "ONESTOP_TOKEN", hide_env_values = true)]
    #[arg(global = true, help_heading = CONNECTION)]
    pub token: Option<onestop_auth::Secret>,
    /// A file holding the token, read when --token and ONESTOP_TOKEN are absent.
    #[arg(long, default_value = ".onestop/operator-token")]
    #[arg(global = true, help_heading = CONNECTION)]
    pub token_file: PathBuf,
    /// Read your writes: answer only once intake's change with this cursor (printed by push-cells and
    /// push-cases) is included, waiting for it if need be.
    #[arg(long, env = "ONESTOP_AFTER_CURSOR", default_value = "")]
    #[arg(global = true, help_heading = CONNECTION)]
    pub after_cursor: String,
    #[command(subcommand)]
    pub command: Command,
}

/// The whole grammar, with help added to the token commands' arguments that are shared with `onestop-token`
/// and left without it there (only where it is still missing, so that help given there wins).
pub fn command() -> clap::Command {
    fn with_help(command: clap::Command, id: &str, help: &'static str) -> clap::Command {
        let missing = command.get_arguments().any(|a| a.get_id() == id && a.get_help().is_none());
        if missing {
            command.mut_arg(id, |a| a.help(help))
        } else {
            command
        }
    }
    Args::command().mut_subcommand("token", |token| {
        if token.find_subcommand("issue").is_none() {
            return token;
        }
        token.mut_subcommand("issue", |issue| {
            let issue = with_help(issue, "key", "The issuer's private key as `kid=<base64>`, instead of --key-file");
            with_help(issue, "role", "The kind of principal the token is for")
        })
    })
}

/// Parses the process's arguments; exits with clap's usage message when they do not parse.
pub fn parse() -> Args {
    let matches = command().get_matches();
    Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// A reporting period, or a range of days.
#[derive(Debug, Clone, clap::Args)]
pub struct Period {
    /// The first day of a range (YYYY-MM-DD), with --to.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// The last day of a range (YYYY-MM-DD), included, with --from.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// A reporting period instead of a range: month:YEAR:M, quarter:YEAR:Q, half:YEAR:H, nine-months:YEAR or
    /// year:YEAR.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub period: Option<String>,
    /// Where a reporting period's months start: calendar months, or the 15th (Decree 09/2019/NĐ-CP).
    #[arg(long, value_enum, default_value_t = CutOff::Calendar)]
    pub cut_off: CutOff,
}

/// A unit or a center, and a period: a day range or a reporting period.
#[derive(Debug, Clone, clap::Args)]
pub struct Scope {
    /// The administrative unit (its centers and those of the units under it), such as 46.
    #[arg(long, conflicts_with = "center")]
    pub unit: Option<String>,
    /// One center instead of a unit, such as TTPVHCC-46.
    #[arg(long)]
    pub center: Option<String>,
    #[command(flatten)]
    pub period: Period,
}

/// A unit or a center, with no period.
#[derive(Debug, Clone, clap::Args)]
pub struct Place {
    /// The administrative unit (its centers and those of the units under it), such as 46.
    #[arg(long, conflicts_with = "center")]
    pub unit: Option<String>,
    /// One center instead of a unit, such as TTPVHCC-46.
    #[arg(long)]
    pub center: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CutOff {
    /// Calendar months.
    Calendar,
    /// Months from the 15th to the 14th (Decree 09/2019/NĐ-CP).
    Decree09,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BreakdownArg {
    /// The child units of the unit.
    ChildUnit,
    /// Each center.
    Center,
    /// Each reporting month.
    Month,
    /// Each sector.
    Sector,
    /// Each procedure.
    Procedure,
    /// Province, district or commune level.
    Level,
    /// The agency implementing each procedure or resolving each case.
    Agency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for reading, values as percentages.
    Table,
    /// Comma-separated, values as fractions (0.8750) for further computation.
    Csv,
    /// Everything the service answered, as JSON.
    Json,
    /// An Excel workbook, written to --out.
    Xlsx,
}

/// How and where to write an answer.
#[derive(Debug, Clone, clap::Args)]
pub struct Output {
    /// The output's format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write to this file instead of the terminal; required for xlsx.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The reference data `onestop load` reads, each kind from its own CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadKind {
    /// Administrative units (code,name,level,parent_code,valid_from,valid_to,predecessor_codes).
    Units,
    /// Working-day calendar years (day,kind,name); each year in the file is replaced.
    Calendar,
    /// Sectors (code,name).
    Sectors,
    /// Agencies (code,name,unit_code,kind).
    Agencies,
    /// One-stop centers (code,name,unit_code,kind,parent_center_code).
    Centers,
    /// The procedures each center receives (center_code,effective_from,procedure_code,source): each center's
    /// whole list from that day.
    CenterProcedures,
}

/// The lists of late cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LateList {
    /// Open and past the original due date.
    PendingOverdue,
    /// Open and due within --within working days.
    DueSoon,
    /// Resolved after the original due date.
    ResolvedLate,
    /// Late with no apology notice.
    LateWithoutNotice,
    /// A notice issued later than one working day before the due date.
    NoticeAfterDeadline,
    /// Rescheduled, and late against the new date too.
    MissedNewDueDate,
    /// The due date moved more than once.
    RescheduledMoreThanOnce,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pushes daily cells from a CSV over the bulk stream.
    #[command(
        long_about = "Pushes daily cells from a CSV over the bulk stream: one row per center, procedure and day. \
                      A problem is reported as file:row:column, a rejected cell as file:row with the field, and a \
                      warning (such as a break of the pending-stock identity) as file:row with the cell's keys.",
        after_help = cells_columns_help()
    )]
    PushCells {
        /// The CSV file.
        file: PathBuf,
        /// Who pushes, kept in the audit history.
        #[arg(long, default_value = "onestop-cli")]
        sender: String,
        /// Cells per stream message.
        #[arg(long, default_value_t = 5000)]
        batch: usize,
    },
    /// Pushes case records from a CSV.
    #[command(
        long_about = "Pushes case records from a CSV: one row per case, with at most one apology notice in the \
                      notice_* columns. A rejected case is reported as file:row with the field; findings (a \
                      notice after the deadline, a late case without notice, ...) as warnings.",
        after_help = cases_columns_help()
    )]
    PushCases {
        /// The CSV file.
        file: PathBuf,
        /// Who pushes, kept in the audit history.
        #[arg(long, default_value = "onestop-cli")]
        sender: String,
    },
    /// Publishes a decision whose items are in a CSV or XLSX file (see docs/catalogue-files.md).
    PublishDecision {
        /// The items, one procedure per row: a .csv or .xlsx file.
        file: PathBuf,
        /// The decision's number, such as 125/QĐ-UBND.
        #[arg(long)]
        number: String,
        /// The day it was signed (YYYY-MM-DD).
        #[arg(long)]
        signed_on: String,
        /// Who signed it, such as "Chủ tịch UBND tỉnh".
        #[arg(long)]
        issuer: String,
        /// The first day it is in force (YYYY-MM-DD).
        #[arg(long)]
        effective_from: String,
        /// The province (its unit code) whose decision this is; without it, a national decision.
        #[arg(long, default_value = "")]
        province: String,
    },
    /// Loads reference data into the catalogue from a CSV: units, calendar, sectors, agencies, centers or the
    /// procedures each center receives.
    #[command(after_help = load_columns_help())]
    Load {
        /// What the file holds.
        #[arg(value_enum)]
        kind: LoadKind,
        /// The CSV file.
        file: PathBuf,
    },
    /// Indicators of a unit or center over a period.
    Indicators {
        #[command(flatten)]
        scope: Scope,
        /// Break the answer down by child unit, center, month, ...
        #[arg(long, value_enum)]
        breakdown: Option<BreakdownArg>,
        /// Only this indicator (repeat for several); all when absent.
        #[arg(long = "indicator")]
        indicators: Vec<String>,
        #[command(flatten)]
        output: Output,
    },
    /// The child units of a unit ranked by one indicator, best first.
    Rank {
        /// The unit whose child units are ranked, such as 46.
        #[arg(long)]
        unit: String,
        #[command(flatten)]
        period: Period,
        /// The indicator to rank by, such as on_time_rate_form06.
        #[arg(long)]
        indicator: String,
        #[command(flatten)]
        output: Output,
    },
    /// Form 06 of a unit or center over a period, written as XLSX or CSV (by the file's extension).
    Form06 {
        #[command(flatten)]
        scope: Scope,
        /// The file to write: a .xlsx or .csv name.
        #[arg(long)]
        out: PathBuf,
    },
    /// Late cases: the lists, their counts per unit, and their reconciliation with the daily counts.
    Late {
        #[command(subcommand)]
        command: LateCommand,
    },
    /// Prints open cases as they become overdue or come within N working days of their due date.
    WatchLate {
        #[command(flatten)]
        place: Place,
        /// Report cases due within this many working days (1-30).
        #[arg(long, default_value_t = 3)]
        within: u32,
    },
    /// Periodic reports: submit, review, list who has reported, compare with the figures now, export them all.
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
    },
    /// Makes signing keys and issues tokens.
    Token {
        #[command(subcommand)]
        command: onestop_auth::command::TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Submits the report of a unit (a commune, the province) or a department for a period that has ended, with
    /// the token of that unit or department.
    Submit {
        /// The unit reporting, such as 19753 or 46.
        #[arg(long, conflicts_with = "agency")]
        unit: Option<String>,
        /// Or the department or agency reporting, such as STP-46.
        #[arg(long)]
        agency: Option<String>,
        #[command(flatten)]
        period: Period,
        /// A note kept with the report.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Approves the version awaiting review, or returns it with a reason (the province for its communes and
    /// departments, the nation for a province).
    Review {
        /// The report's number, as `submit` and `list` print it.
        #[arg(long)]
        report: u64,
        /// The version reviewed: the latest.
        #[arg(long)]
        version: u32,
        /// Approve it.
        #[arg(long, conflicts_with = "return_with", required_unless_present = "return_with")]
        approve: bool,
        /// Return it, with this reason.
        #[arg(long = "return")]
        return_with: Option<String>,
    },
    /// Who reports to a province (its communes, its departments and itself), or with --unit VN the provinces, and
    /// where each report stands.
    List {
        /// The province, or VN.
        #[arg(long)]
        unit: String,
        #[command(flatten)]
        period: Period,
        #[command(flatten)]
        output: Output,
    },
    /// A submitted version against the figures now: the form 06 cells and indicators that moved, and the pushes
    /// behind them.
    Compare {
        /// The report's number.
        #[arg(long)]
        report: u64,
        /// The version; the latest when absent.
        #[arg(long, default_value_t = 0)]
        version: u32,
    },
    /// Every report to a province (or with --unit VN every province's) for a period, as one ZIP: a status table
    /// and each report's files as submitted.
    Export {
        /// The province, or VN.
        #[arg(long)]
        unit: String,
        #[command(flatten)]
        period: Period,
        /// The ZIP file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum LateCommand {
    /// The cases of one list, every page, with their apology notices.
    List {
        #[command(flatten)]
        place: Place,
        /// Which list.
        #[arg(long, value_enum)]
        list: LateList,
        /// For due-soon: cases due within this many working days (1-30).
        #[arg(long, default_value_t = 3)]
        within: u32,
        /// The day open cases are judged on (YYYY-MM-DD); today in Vietnam when absent.
        #[arg(long)]
        as_of: Option<String>,
        /// For the lists of closed or noticed cases: the first day of the due dates (resolution days for
        /// resolved-late) taken, with --to.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// The last day of the due dates (resolution days) taken, with --from.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Only cases of this procedure.
        #[arg(long)]
        procedure: Option<String>,
        /// Only cases this agency resolves.
        #[arg(long)]
        agency: Option<String>,
        /// Cases asked for per call; every page is printed whatever its size.
        #[arg(long, default_value_t = 500)]
        page_size: u32,
        #[command(flatten)]
        output: Output,
    },
    /// The size of every list, for a unit and each of its child units.
    Count {
        #[command(flatten)]
        place: Place,
        /// For due-soon: cases due within this many working days (1-30).
        #[arg(long, default_value_t = 3)]
        within: u32,
        /// The day open cases are judged on (YYYY-MM-DD); today in Vietnam when absent.
        #[arg(long)]
        as_of: Option<String>,
        /// The first day of the due dates (resolution days) counted for the closed lists, with --to.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// The last day of the due dates (resolution days) counted for the closed lists, with --from.
        #[arg(long, requires = "from")]
        to: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Late counts in the daily cells against the late case records, per center.
    Reconcile {
        #[command(flatten)]
        scope: Scope,
        /// Also list, for each center, the days on which the two sources disagree and the cases behind them.
        #[arg(long)]
        by_day: bool,
        #[command(flatten)]
        output: Output,
    },
}

fn columns(names: &[&str]) -> String {
    names.iter().map(|n| format!("  {n}")).collect::<Vec<_>>().join("\n")
}

fn cells_columns_help() -> String {
    format!(
        "Columns (first row; any order; a missing measure is 0; any other column is refused):\n{}\n\
         Required: center_code, procedure_code, day (YYYY-MM-DD).\n\
         Measures are whole numbers: flows of the day, and pending_* as the stocks at its end.",
        columns(&input::CELL_COLUMNS)
    )
}

fn cases_columns_help() -> String {
    format!(
        "Columns (first row; any order; any other column is refused):\n{}\n\
         Required: case_code, procedure_code, receiving_center_code, resolving_agency_code, due_date; and, when \
         notice_number is given, every notice_* column but notice_reason_category and notice_delivery.\n\
         Channels: DIRECT, ONLINE, POSTAL. Status: IN_PROGRESS, RESOLVED, RETURNED, WITHDRAWN, REJECTED.\n\
         Times are RFC 3339 (2026-03-02T09:00:00+07:00), days YYYY-MM-DD.\n\
         notice_reason_category: AGENCY_PROCESSING, INTERAGENCY_COORDINATION, SUPPLEMENT_REQUIRED, FORCE_MAJEURE, \
         CAUSED_BY_APPLICANT, OTHER. notice_delivery: AT_CENTER, ELECTRONIC, POSTAL.",
        columns(&input::CASE_COLUMNS)
    )
}

fn load_columns_help() -> String {
    format!(
        "Columns of each kind (first row; any order):\n\
         units:             code,name,level,parent_code,valid_from,valid_to,predecessor_codes (docs/catalogue-files.md)\n\
         calendar:          day,kind,name (docs/catalogue-files.md)\n\
         sectors:           {}\n\
         agencies:          {} (kind: {})\n\
         centers:           {} (kind: {})\n\
         center-procedures: {}",
        input::reference::SECTOR_COLUMNS.join(","),
        input::reference::AGENCY_COLUMNS.join(","),
        input::reference::AGENCY_KINDS.iter().map(|k| k.0).collect::<Vec<_>>().join(", "),
        input::reference::CENTER_COLUMNS.join(","),
        input::reference::CENTER_KINDS.iter().map(|k| k.0).collect::<Vec<_>>().join(", "),
        input::reference::CENTER_PROCEDURE_COLUMNS.join(","),
    )
}

#[cfg(test)]
mod tests {
    /// Every argument of every command, however deep, says what it is for.
    #[test]
    fn every_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            if command.get_about().is_none() && command.get_long_about().is_none() {
                missing.push(format!("{path} (the command)"));
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        let mut command = super::command();
        command.build();
        walk(&command, "", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }

    /// Help lists every column the push commands read (reading any other fails a debug assertion in input.rs).
    #[test]
    fn push_help_lists_every_column() {
        let columns =
            [("push-cells", &crate::input::CELL_COLUMNS[..]), ("push-cases", &crate::input::CASE_COLUMNS[..])];
        for (name, columns) in columns {
            let mut command = super::command();
            let help = command.find_subcommand_mut(name).unwrap().render_long_help().to_string();
            for column in columns {
                assert!(help.contains(&format!("\n  {column}\n")), "{name} --help lacks {column}:\n{help}");
            }
        }
    }

    #[test]
    fn the_grammar_is_consistent() {
        super::command().debug_assert();
    }
}
