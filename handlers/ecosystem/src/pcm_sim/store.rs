//! What the PCM simulator keeps: one JSON file per accepted report under
//! `<data>/pcm/reports`, and the outage window in `<data>/pcm/outage.json`. Both survive a
//! restart.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::files;
use crate::registry::{now, valid_id};

/// An accepted report as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredReport {
    pub report_id: String,
    /// `private`, `opendata` or `hybrid-flow/<step>`.
    pub kind: String,
    /// The organisation whose token submitted it.
    pub org_id: String,
    pub software_id: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    /// The report exactly as received.
    pub body: Value,
}

/// The window during which the simulator answers 503.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outage {
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ReportStore {
    dir: PathBuf,
}

impl ReportStore {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("pcm"),
        }
    }

    fn reports_dir(&self) -> PathBuf {
        self.dir.join("reports")
    }

    /// Stores a report and returns its id.
    pub fn insert(
        &self,
        kind: &str,
        org_id: &str,
        software_id: &str,
        body: Value,
    ) -> Result<String> {
        let report_id = uuid::Uuid::new_v4().to_string();
        let stamp = now();
        let record = StoredReport {
            report_id: report_id.clone(),
            kind: kind.to_string(),
            org_id: org_id.to_string(),
            software_id: software_id.to_string(),
            status: "ACCEPTED".into(),
            created_at: stamp.clone(),
            updated_at: stamp,
            body,
        };
        files::write_json(
            &self.reports_dir().join(format!("{report_id}.json")),
            &record,
        )?;
        Ok(report_id)
    }

    pub fn get(&self, report_id: &str) -> Result<Option<StoredReport>> {
        if !valid_id(report_id) {
            return Ok(None);
        }
        files::read_json_opt(&self.reports_dir().join(format!("{report_id}.json")))
    }

    pub fn put(&self, record: &StoredReport) -> Result<()> {
        files::write_json(
            &self
                .reports_dir()
                .join(format!("{}.json", record.report_id)),
            record,
        )
    }

    /// Every stored report, oldest first.
    pub fn all(&self) -> Result<Vec<StoredReport>> {
        let dir = self.reports_dir();
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut out: Vec<StoredReport> = Vec::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| crate::EcosystemError::io(&dir, e))?;
        for entry in entries {
            let path = entry
                .map_err(|e| crate::EcosystemError::io(&dir, e))?
                .path();
            if path.extension().is_some_and(|e| e == "json") {
                out.push(files::read_json(&path)?);
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(out)
    }

    /// The active outage, if one is set and not over.
    pub fn outage(&self) -> Result<Option<Outage>> {
        let outage: Option<Outage> = files::read_json_opt(&self.dir.join("outage.json"))?;
        Ok(outage.filter(|o| o.until > Utc::now()))
    }

    pub fn set_outage(&self, until: DateTime<Utc>) -> Result<()> {
        files::write_json(&self.dir.join("outage.json"), &Outage { until })
    }

    pub fn clear_outage(&self) -> Result<()> {
        let path = self.dir.join("outage.json");
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| crate::EcosystemError::io(&path, e))?;
        }
        Ok(())
    }
}
