//! Form 06 as a file.

use std::path::Path;

use anyhow::{bail, Context};
use onestop_proto::aggregation::v1::{ExportForm06Request, FileFormat, GetForm06Request};
use tokio_stream::StreamExt;

use super::{Service, Services};
use crate::args::Scope;

pub async fn run(services: &Services<'_>, scope: &Scope, out: &Path) -> anyhow::Result<()> {
    let target = scope.target()?;
    let days = scope.period.days()?;
    let format = match out.extension().and_then(|e| e.to_str()) {
        Some("xlsx") => FileFormat::Xlsx,
        Some("csv") => FileFormat::Csv,
        _ => bail!("{}: name a .xlsx or .csv file", out.display()),
    };
    let report = GetForm06Request {
        unit_code: target.unit_code,
        center_code: target.center_code,
        period: days.range,
        reporting_period: days.reporting,
        min_intake_cursor: services.after_cursor(),
        ..Default::default()
    };
    let request = ExportForm06Request { report: Some(report), format: format as i32 };
    let failed = services.failed(Service::Aggregation);
    let mut stream = services.aggregation()?.export_form06(request).await.map_err(&failed)?.into_inner();
    let mut bytes = Vec::new();
    while let Some(piece) = stream.next().await {
        bytes.extend(piece.map_err(&failed)?.chunk);
    }
    std::fs::write(out, &bytes).with_context(|| out.display().to_string())?;
    println!("{} ({} bytes)", out.display(), bytes.len());
    Ok(())
}
