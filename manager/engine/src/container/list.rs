//! `ps`: the containers of a namespace, newest first, running ones only
//! unless `all`, with docker's filters (`status=`, `name=`, `ancestor=`,
//! `id=`, `label=`, `exited=`; the same key given twice matches either
//! value, different keys must all match) and, when asked, sizes.

use super::record::{ContainerRecord, Status};
use super::summary::ContainerSummary;
use crate::container::Containers;
use crate::core::OnCore;
use crate::error::{ManagerError, Result};

/// What `ps` asks for.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub all: bool,
    pub size: bool,
    pub filters: Vec<String>,
}

/// docker's ps filters, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub status: Vec<Status>,
    pub name: Vec<String>,
    pub ancestor: Vec<String>,
    pub id: Vec<String>,
    pub label: Vec<(String, Option<String>)>,
    pub exited: Vec<i32>,
}

impl Filters {
    /// Parses `key=value` filters.
    pub fn parse(filters: &[String]) -> Result<Filters> {
        let mut f = Filters::default();
        for raw in filters {
            let bad = || ManagerError::InvalidArgument(format!("invalid filter '{raw}'"));
            let (k, v) = raw.split_once('=').ok_or_else(bad)?;
            match k.trim() {
                "status" => f.status.push(Status::parse(v).ok_or_else(|| {
                    ManagerError::InvalidArgument(format!(
                        "invalid filter 'status={v}': use created, restarting, running, removing, paused, exited or dead"
                    ))
                })?),
                "name" => f.name.push(v.to_string()),
                "ancestor" => f.ancestor.push(v.to_string()),
                "id" => f.id.push(v.to_string()),
                "label" => f.label.push(match v.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (v.to_string(), None),
                }),
                "exited" => f.exited.push(v.trim().parse().map_err(|_| bad())?),
                _ => {
                    return Err(ManagerError::InvalidArgument(format!(
                        "invalid filter '{k}': ps filters are status, name, ancestor, id, label and exited"
                    )))
                }
            }
        }
        Ok(f)
    }

    /// Whether the filters ask for stopped containers themselves (docker
    /// lists them then without `-a`).
    pub fn implies_all(&self) -> bool {
        !self.status.is_empty() || !self.exited.is_empty()
    }

    /// Whether a record passes. `ancestor_ids` are the image ids the
    /// `ancestor` filters resolved to (one entry per filter, `None` when
    /// the image is unknown here).
    pub fn matches(&self, r: &ContainerRecord, ancestor_ids: &[Option<String>]) -> bool {
        let any = |empty: bool, f: &dyn Fn() -> bool| empty || f();
        any(self.status.is_empty(), &|| {
            self.status.contains(&r.state.status)
        }) && any(self.name.is_empty(), &|| {
            self.name.iter().any(|n| name_matches(n, &r.name))
        }) && any(self.id.is_empty(), &|| {
            self.id.iter().any(|p| r.id.starts_with(p.as_str()))
        }) && any(self.label.is_empty(), &|| {
            self.label
                .iter()
                .all(|(k, v)| match (r.config.labels.get(k), v) {
                    (Some(have), Some(want)) => have == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
        }) && any(self.exited.is_empty(), &|| {
            !r.state.running()
                && r.state.status == Status::Exited
                && self.exited.contains(&r.state.exit_code)
        }) && any(self.ancestor.is_empty(), &|| {
            self.ancestor
                .iter()
                .zip(ancestor_ids)
                .any(|(a, id)| id.as_deref() == Some(r.image_id.as_str()) || &r.config.image == a)
        })
    }
}

/// docker matches `name=` as a regular expression against "/name"; this
/// covers its common uses: a substring, `^prefix` and `suffix$`.
fn name_matches(pattern: &str, name: &str) -> bool {
    let slashed = format!("/{name}");
    let (anchored_start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (anchored_end, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    [name, slashed.as_str()]
        .iter()
        .any(|n| match (anchored_start, anchored_end) {
            (true, true) => *n == p,
            (true, false) => n.starts_with(p),
            (false, true) => n.ends_with(p),
            (false, false) => n.contains(p),
        })
}

impl Containers {
    /// Lists containers (docker ps), newest first.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn list_containers(
        &self,
        ns: &str,
        opts: ListOptions,
    ) -> Result<Vec<ContainerSummary>> {
        let filters = Filters::parse(&opts.filters)?;
        let ancestor_ids: Vec<Option<String>> = filters
            .ancestor
            .iter()
            .map(|a| {
                self.images
                    .resolve_image(ns, a)
                    .ok()
                    .map(|(r, _)| r.id().to_string())
            })
            .collect();
        let all = opts.all || filters.implies_all();
        let mut recs: Vec<ContainerRecord> = self
            .container_records(ns)?
            .into_iter()
            .filter(|r| all || r.state.running())
            .filter(|r| filters.matches(r, &ancestor_ids))
            .collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        if !opts.size {
            return Ok(recs
                .into_iter()
                .map(|record| ContainerSummary::new(record, None))
                .collect());
        }
        let engine = self.clone();
        let ns = ns.to_string();
        tokio::task::spawn_blocking(move || {
            recs.into_iter()
                .map(|record| {
                    let sizes = engine.container_sizes(&ns, &record);
                    ContainerSummary::new(record, Some(sizes))
                })
                .collect()
        })
        .await
        .map_err(ManagerError::Worker)
    }

    /// (own layer, image layers + own layer) in bytes. Blocking.
    pub(crate) fn container_sizes(&self, ns: &str, r: &ContainerRecord) -> (u64, u64) {
        let rw = self
            .snapshotter()
            .usage(&r.snapshot_key)
            .map(|u| u.size)
            .unwrap_or(0);
        let image = self
            .images
            .records_of(ns, &r.image_id)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|i| i.size())
            .unwrap_or(0);
        (rw, image + rw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::State;

    fn rec(id: &str, name: &str, status: Status, code: i32) -> ContainerRecord {
        let mut r = ContainerRecord {
            id: id.into(),
            name: name.into(),
            image_id: "sha256:img1".into(),
            state: State {
                status,
                exit_code: code,
                ..Default::default()
            },
            ..Default::default()
        };
        r.config.image = "busybox".into();
        r.config.labels.insert("app".into(), "web".into());
        r
    }

    fn f(v: &[&str]) -> Result<Filters> {
        Filters::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parse_errors() {
        for bad in ["status", "status=up", "color=red", "exited=x"] {
            assert_eq!(
                f(&[bad]).unwrap_err().kind(),
                crate::ErrorKind::InvalidArgument,
                "{bad}"
            );
        }
        assert!(f(&["status=exited"]).unwrap().implies_all());
        assert!(f(&["exited=0"]).unwrap().implies_all());
        assert!(!f(&["name=x"]).unwrap().implies_all());
    }

    #[test]
    fn matching() {
        let run = rec("abc123", "web_1", Status::Running, 0);
        let ex0 = rec("abd456", "db", Status::Exited, 0);
        let ex3 = rec("ffe789", "worker", Status::Exited, 3);
        let m = |fl: &[&str], r: &ContainerRecord| f(fl).unwrap().matches(r, &[]);
        assert!(m(&[], &run));
        assert!(m(&["status=running"], &run));
        assert!(!m(&["status=running"], &ex0));
        assert!(m(&["status=running", "status=exited"], &ex0));
        assert!(m(&["name=web"], &run));
        assert!(m(&["name=^web"], &run));
        assert!(m(&["name=^/web_1$"], &run));
        assert!(!m(&["name=^eb"], &run));
        assert!(m(&["name=_1$"], &run));
        assert!(!m(&["name=web"], &ex0));
        assert!(m(&["id=ab"], &run) && m(&["id=ab"], &ex0) && !m(&["id=ab"], &ex3));
        assert!(m(&["label=app"], &run));
        assert!(m(&["label=app=web"], &run));
        assert!(!m(&["label=app=db"], &run));
        assert!(!m(&["label=tier"], &run));
        assert!(m(&["exited=3"], &ex3));
        assert!(!m(&["exited=3"], &ex0));
        assert!(!m(&["exited=0"], &run));
        // Different keys must all match.
        assert!(!m(&["status=exited", "name=worker", "exited=0"], &ex3));
        assert!(m(&["status=exited", "name=worker", "exited=3"], &ex3));
        // ancestor: by the resolved image id, or the name as given.
        let fl = f(&["ancestor=busybox"]).unwrap();
        assert!(fl.matches(&run, &[Some("sha256:img1".into())]));
        assert!(fl.matches(&run, &[None]));
        let fl = f(&["ancestor=alpine"]).unwrap();
        assert!(!fl.matches(&run, &[None]));
        assert!(!fl.matches(&run, &[Some("sha256:other".into())]));
    }
}
