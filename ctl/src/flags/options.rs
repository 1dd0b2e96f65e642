//! `--security-opt` and `--log-opt` values.

use super::env::read_flag_file;
use super::resources::parse_size;
use super::{invalid, FlagError};

/// `--security-opt` values as the API takes them: a seccomp profile path is
/// replaced by the profile's JSON (compacted, as docker's CLI does), the
/// old `key:value` spelling becomes `key=value`; everything else passes
/// through for berthd to accept or refuse.
pub fn security_opts(opts: &[String]) -> Result<Vec<String>, FlagError> {
    opts.iter().map(|o| security_opt(o)).collect()
}

fn security_opt(opt: &str) -> Result<String, FlagError> {
    let (key, value) = match opt.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        // docker still accepts the deprecated "seccomp:..." form.
        None => match opt.split_once(':') {
            Some((k, v)) if k != "no-new-privileges" => (k, Some(v)),
            _ => (opt, None),
        },
    };
    match (key, value) {
        ("seccomp", Some("unconfined")) => Ok("seccomp=unconfined".to_owned()),
        ("seccomp", Some(path)) => {
            let content = read_flag_file(path).map_err(|e| match e {
                FlagError::File { path, why, .. } => FlagError::File {
                    what: "opening seccomp profile",
                    path,
                    why,
                },
                other => other,
            })?;
            let profile: serde_json::Value =
                serde_json::from_slice(&content).map_err(|e| FlagError::File {
                    what: "compacting json for seccomp profile",
                    path: path.to_owned(),
                    why: e.to_string(),
                })?;
            Ok(format!("seccomp={profile}"))
        }
        (key, Some(value)) => Ok(format!("{key}={value}")),
        (key, None) => Ok(key.to_owned()),
    }
}

/// The json-file log driver's options berth supports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOpts {
    /// `max-size` in bytes; 0 for berthd's default.
    pub max_size: i64,
    /// `max-file`; 0 for berthd's default.
    pub max_files: i32,
}

/// `--log-opt max-size=10m` and `--log-opt max-file=3`, as docker's
/// json-file driver reads them.
pub fn log_opts(opts: &[String]) -> Result<LogOpts, FlagError> {
    let mut out = LogOpts::default();
    for opt in opts {
        let Some((key, value)) = opt.split_once('=') else {
            return Err(invalid(
                "--log-opt",
                opt,
                "invalid key value pair format (expected KEY=VALUE)",
            ));
        };
        match key {
            "max-size" => {
                out.max_size = parse_size(value)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid("--log-opt", opt, format!("invalid size: '{value}'")))?;
            }
            "max-file" => {
                out.max_files = value
                    .parse::<i32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| invalid("--log-opt", opt, "max-file cannot be less than 1"))?;
            }
            other => {
                return Err(FlagError::Unsupported(format!(
                    "unknown log opt '{other}' for json-file log driver"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seccomp_profiles_are_read_here() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n").unwrap();
        let opt = format!("seccomp={}", path.display());
        assert_eq!(
            security_opts(&[opt]).unwrap(),
            [r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#]
        );
        let old = format!("seccomp:{}", path.display());
        assert_eq!(security_opts(&[old]).unwrap().len(), 1);

        let err = security_opts(&["seccomp=/nonexistent.json".into()]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("opening seccomp profile (/nonexistent.json) failed: "),
            "{err}"
        );
        std::fs::write(&path, "{not json").unwrap();
        let err = security_opts(&[format!("seccomp={}", path.display())]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("compacting json for seccomp profile"),
            "{err}"
        );
    }

    #[test]
    fn other_security_opts_pass_through() {
        let opts: Vec<String> = [
            "no-new-privileges",
            "no-new-privileges:true",
            "no-new-privileges=false",
            "seccomp=unconfined",
            "seccomp:unconfined",
            "apparmor=x",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            security_opts(&opts).unwrap(),
            [
                "no-new-privileges",
                "no-new-privileges:true",
                "no-new-privileges=false",
                "seccomp=unconfined",
                "seccomp=unconfined",
                "apparmor=x"
            ]
        );
    }

    #[test]
    fn log_options() {
        assert_eq!(log_opts(&[]).unwrap(), LogOpts::default());
        assert_eq!(
            log_opts(&["max-size=10m".into(), "max-file=3".into()]).unwrap(),
            LogOpts {
                max_size: 10 << 20,
                max_files: 3
            }
        );
        assert_eq!(log_opts(&["max-size=10k".into()]).unwrap().max_size, 10240);
        for bad in ["max-size=lots", "max-file=0", "max-file=x", "novalue"] {
            let err = log_opts(&[bad.into()]).unwrap_err().to_string();
            assert!(err.starts_with("invalid argument"), "{bad}: {err}");
        }
        assert_eq!(
            log_opts(&["mode=non-blocking".into()])
                .unwrap_err()
                .to_string(),
            "unknown log opt 'mode' for json-file log driver"
        );
    }
}
