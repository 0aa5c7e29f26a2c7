use super::{Exporter, Report, ReportError};

/// `summary.json`: the same document `--format json` prints.
pub struct SummaryJson;

impl Exporter for SummaryJson {
    fn file_name(&self) -> &'static str {
        "summary.json"
    }
    fn render(&self, report: &Report) -> Result<Vec<u8>, ReportError> {
        let mut s = serde_json::to_string_pretty(&report.json()).map_err(ReportError::render)?;
        s.push('\n');
        Ok(s.into_bytes())
    }
}
