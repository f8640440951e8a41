//! What the PCM simulator keeps, under `<data>/pcm/reports`: the reports a call to the private
//! report endpoint accepted, one file per call (`<batch>.batch.json`, report ids
//! `<batch>.<n>`); every other report, and a report changed since, one file each
//! (`<report id>.json`, which wins over the batch's copy). The outage window is in
//! `<data>/pcm/outage.json`. All of it survives a restart.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::files;
use crate::registry::{now, valid_id};

/// The file name ending of a call's batch of reports.
const BATCH_SUFFIX: &str = ".batch.json";

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
        files::write_json_compact(
            &self.reports_dir().join(format!("{report_id}.json")),
            &record,
        )?;
        Ok(report_id)
    }

    /// Stores the reports one call accepted, in one file; returns their ids, in order.
    pub fn insert_batch(
        &self,
        kind: &str,
        org_id: &str,
        software_id: &str,
        bodies: Vec<Value>,
    ) -> Result<Vec<String>> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let batch = uuid::Uuid::new_v4().to_string();
        let stamp = now();
        let records: Vec<StoredReport> = bodies
            .into_iter()
            .enumerate()
            .map(|(n, body)| StoredReport {
                report_id: format!("{batch}.{n}"),
                kind: kind.to_string(),
                org_id: org_id.to_string(),
                software_id: software_id.to_string(),
                status: "ACCEPTED".into(),
                created_at: stamp.clone(),
                updated_at: stamp.clone(),
                body,
            })
            .collect();
        files::write_json_compact(
            &self.reports_dir().join(format!("{batch}{BATCH_SUFFIX}")),
            &records,
        )?;
        Ok(records.into_iter().map(|r| r.report_id).collect())
    }

    pub fn get(&self, report_id: &str) -> Result<Option<StoredReport>> {
        let (batch, n) = match report_id.split_once('.') {
            Some((batch, n)) => (batch, Some(n)),
            None => (report_id, None),
        };
        let n = match n.map(str::parse::<usize>) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => return Ok(None),
        };
        if !valid_id(batch) {
            return Ok(None);
        }
        let single = self.reports_dir().join(format!("{report_id}.json"));
        if single.exists() {
            return files::read_json(&single).map(Some);
        }
        let Some(n) = n else {
            return Ok(None);
        };
        let records: Option<Vec<StoredReport>> =
            files::read_json_opt(&self.reports_dir().join(format!("{batch}{BATCH_SUFFIX}")))?;
        Ok(records.and_then(|mut r| (n < r.len()).then(|| r.swap_remove(n))))
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
        let mut batched: Vec<StoredReport> = Vec::new();
        let mut single: Vec<StoredReport> = Vec::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| crate::EcosystemError::io(&dir, e))?;
        for entry in entries {
            let path = entry
                .map_err(|e| crate::EcosystemError::io(&dir, e))?
                .path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.ends_with(BATCH_SUFFIX) {
                batched.extend(files::read_json::<Vec<StoredReport>>(&path)?);
            } else if name.ends_with(".json") {
                single.push(files::read_json(&path)?);
            }
        }
        // A report changed since its batch was stored has its own file, which wins.
        let changed: std::collections::HashSet<String> =
            single.iter().map(|r| r.report_id.clone()).collect();
        batched.retain(|r| !changed.contains(&r.report_id));
        let mut out = batched;
        out.extend(single);
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
