//! What the volumes service shows: docker's `volume inspect` object, the
//! `volume ls` and `volume prune` filters, prune's report.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::VolumeRecord;
use crate::error::{ManagerError, Result};
use crate::network::view::split_filters;
use crate::network::LabelFilter;

/// docker's `volume inspect` object, its keys in docker's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeInspect {
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "Mountpoint")]
    pub mountpoint: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Options")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(rename = "Scope")]
    pub scope: String,
}

impl VolumeInspect {
    pub fn of(r: &VolumeRecord, data: &Path) -> VolumeInspect {
        VolumeInspect {
            created_at: rfc3339_seconds(&r.created_at),
            driver: r.driver.clone(),
            labels: r.labels.clone(),
            mountpoint: data.display().to_string(),
            name: r.name.clone(),
            options: r.options.clone(),
            scope: "local".into(),
        }
    }
}

/// docker prints CreatedAt with Go's RFC3339: whole seconds.
fn rfc3339_seconds(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => d
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Err(_) => t.to_string(),
    }
}

/// One term of a [`VolumeFilter`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeTerm {
    /// `name=S`: the name contains S.
    Name(String),
    /// `driver=D`.
    Driver(String),
    Label(LabelFilter),
    /// `dangling=true|1` (true: no container references it) or `false|0`.
    Dangling(bool),
}

/// docker's `volume ls` filters: every term must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeFilter {
    pub terms: Vec<VolumeTerm>,
}

impl VolumeFilter {
    /// Parses `KEY=VALUE` strings (`--filter` of `volume ls`).
    pub fn parse(f: &[String]) -> Result<VolumeFilter> {
        let mut terms = Vec::new();
        for (k, v) in split_filters(f)? {
            terms.push(match k.as_str() {
                "name" => VolumeTerm::Name(v),
                "driver" => VolumeTerm::Driver(v),
                "label" => VolumeTerm::Label(LabelFilter::parse(&v)),
                "dangling" => match v.as_str() {
                    "true" | "1" => VolumeTerm::Dangling(true),
                    "false" | "0" => VolumeTerm::Dangling(false),
                    _ => {
                        return Err(ManagerError::InvalidArgument(format!(
                            "invalid filter 'dangling={v}'"
                        )))
                    }
                },
                other => {
                    return Err(ManagerError::InvalidArgument(format!(
                        "invalid filter '{other}'"
                    )))
                }
            });
        }
        Ok(VolumeFilter { terms })
    }

    /// Whether `r` (`used`: some container references it) matches.
    pub fn matches(&self, r: &VolumeRecord, used: bool) -> bool {
        let none = BTreeMap::new();
        self.terms.iter().all(|t| match t {
            VolumeTerm::Name(s) => r.name.contains(s.as_str()),
            VolumeTerm::Driver(d) => r.driver == *d,
            VolumeTerm::Label(l) => l.matches(r.labels.as_ref().unwrap_or(&none)),
            VolumeTerm::Dangling(d) => *d != used,
        })
    }
}

/// docker's `volume prune` filters: labels (`label=K[=V]`, and `label!=`
/// for volumes without it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumePruneFilter {
    pub labels: Vec<LabelFilter>,
    pub not_labels: Vec<LabelFilter>,
}

impl VolumePruneFilter {
    pub fn parse(f: &[String]) -> Result<VolumePruneFilter> {
        let mut p = VolumePruneFilter::default();
        for s in f {
            if let Some(v) = s.strip_prefix("label!=") {
                p.not_labels.push(LabelFilter::parse(v));
            } else if let Some(v) = s.strip_prefix("label=") {
                p.labels.push(LabelFilter::parse(v));
            } else {
                let (k, _) = split_filters(std::slice::from_ref(s))?.remove(0);
                return Err(ManagerError::InvalidArgument(format!(
                    "invalid filter '{k}'"
                )));
            }
        }
        Ok(p)
    }

    pub fn matches(&self, r: &VolumeRecord) -> bool {
        let none = BTreeMap::new();
        let labels = r.labels.as_ref().unwrap_or(&none);
        self.labels.iter().all(|l| l.matches(labels))
            && !self.not_labels.iter().any(|l| l.matches(labels))
    }
}

/// What a prune removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumePruned {
    pub deleted: Vec<String>,
    /// Bytes.
    pub reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, labels: &[(&str, &str)]) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: "local".into(),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            created_at: "2026-12-07T21:00:00.123456789Z".into(),
            ..Default::default()
        }
    }

    fn f(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ls_filters() {
        let r = rec("data1", &[("a", "1")]);
        let ok = |s: &[&str], used| VolumeFilter::parse(&f(s)).unwrap().matches(&r, used);
        assert!(ok(&["name=ata"], false));
        assert!(!ok(&["name=x"], false));
        assert!(ok(&["label=a"], false) && ok(&["label=a=1"], false));
        assert!(!ok(&["label=a=2"], false));
        assert!(ok(&["dangling=true"], false) && !ok(&["dangling=true"], true));
        assert!(ok(&["dangling=0"], true));
        assert!(ok(&["driver=local"], true) && !ok(&["driver=nfs"], true));
        let e = VolumeFilter::parse(&f(&["foo=1"])).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'foo'");
        let e = VolumeFilter::parse(&f(&["dangling=maybe"])).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'dangling=maybe'");
        assert!(VolumeFilter::parse(&f(&["nokey"])).is_err());
    }

    #[test]
    fn prune_filters() {
        let r = rec("v", &[("keep", "yes")]);
        let ok = |s: &[&str]| VolumePruneFilter::parse(&f(s)).unwrap().matches(&r);
        assert!(ok(&[]) && ok(&["label=keep"]) && !ok(&["label!=keep"]));
        assert!(!ok(&["label=other"]));
        let e = VolumePruneFilter::parse(&f(&["until=1h"])).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'until'");
    }

    #[test]
    fn inspect_shape() {
        let v = VolumeInspect::of(&rec("v", &[]), Path::new("/r/volumes/v/_data"));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"CreatedAt":"2026-12-07T21:00:00Z","Driver":"local","Labels":{},"Mountpoint":"/r/volumes/v/_data","Name":"v","Options":null,"Scope":"local"}"#
        );
    }
}
