//! `-e/--env`, `--env-file`, `-l/--label` and `--label-file`, as docker's
//! CLI reads them (`opts.ValidateEnv`, `kvfile.Parse`,
//! `ConvertKVStringsToMap`).

use std::collections::HashMap;

use super::FlagError;

/// Looks a variable up in the CLI's own environment.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment as a [`Lookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `-e KEY=VALUE` as given; `-e KEY` takes KEY's value from the CLI's
/// environment and is dropped when KEY is not set there.
pub fn resolve_env(value: &str, lookup: Lookup<'_>) -> Result<Option<String>, FlagError> {
    let (key, has_value) = match value.split_once('=') {
        Some((key, _)) => (key, true),
        None => (value, false),
    };
    if key.is_empty() {
        return Err(FlagError::Unsupported(format!(
            "invalid environment variable: {value}"
        )));
    }
    if has_value {
        return Ok(Some(value.to_owned()));
    }
    Ok(lookup(key).map(|v| format!("{key}={v}")))
}

/// Reads a docker env or label file: one `KEY=VALUE` (or bare `KEY`) per
/// line; blank lines and lines starting with `#` are skipped; leading
/// whitespace is dropped; a bare KEY takes its value from `lookup` (when
/// given) and is dropped if unset there; a key with whitespace is refused.
pub fn parse_kv_file(
    path: &str,
    content: &[u8],
    lookup: Option<Lookup<'_>>,
) -> Result<Vec<String>, FlagError> {
    let file_error = |why: String| FlagError::File {
        what: "reading",
        path: path.to_owned(),
        why,
    };
    let mut out = Vec::new();
    for (n, raw) in content.split(|b| *b == b'\n').enumerate() {
        let line = std::str::from_utf8(raw)
            .map_err(|_| file_error(format!("invalid utf8 bytes at line {}", n + 1)))?;
        let line = if n == 0 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        let line = line.strip_suffix('\r').unwrap_or(line).trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(file_error(format!("no variable name on line '{line}'")));
        }
        if key.contains(char::is_whitespace) {
            return Err(file_error(format!("variable '{key}' contains whitespaces")));
        }
        match (value, lookup) {
            (Some(v), _) => out.push(format!("{key}={v}")),
            (None, Some(lookup)) => {
                if let Some(v) = lookup(key) {
                    out.push(format!("{key}={v}"));
                }
            }
            (None, None) => out.push(key.to_owned()),
        }
    }
    Ok(out)
}

/// Reads a file named by a flag.
pub fn read_flag_file(path: &str) -> Result<Vec<u8>, FlagError> {
    std::fs::read(path).map_err(|e| FlagError::File {
        what: "opening",
        path: path.to_owned(),
        why: e.to_string(),
    })
}

/// The container's environment: every `--env-file` in order, then each
/// `-e` (so `-e` wins, as in docker).
pub fn build_env(
    env: &[String],
    env_files: &[String],
    lookup: Lookup<'_>,
) -> Result<Vec<String>, FlagError> {
    let mut out = Vec::new();
    for path in env_files {
        out.extend(parse_kv_file(path, &read_flag_file(path)?, Some(lookup))?);
    }
    for value in env {
        out.extend(resolve_env(value, lookup)?);
    }
    Ok(out)
}

/// The container's labels: every `--label-file` in order, then each `-l`;
/// `KEY` alone is an empty value.
pub fn build_labels(
    labels: &[String],
    label_files: &[String],
) -> Result<HashMap<String, String>, FlagError> {
    let mut all = Vec::new();
    for path in label_files {
        all.extend(parse_kv_file(path, &read_flag_file(path)?, None)?);
    }
    all.extend(labels.iter().cloned());
    let mut map = HashMap::new();
    for label in all {
        let (key, value) = label.split_once('=').unwrap_or((label.as_str(), ""));
        if key.is_empty() {
            return Err(FlagError::Unsupported(format!("invalid label: {label}")));
        }
        map.insert(key.to_owned(), value.to_owned());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/root".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn env_values() {
        let l: Lookup = &lookup;
        assert_eq!(resolve_env("A=1", l), Ok(Some("A=1".into())));
        assert_eq!(resolve_env("A=", l), Ok(Some("A=".into())));
        assert_eq!(resolve_env("A=b=c", l), Ok(Some("A=b=c".into())));
        assert_eq!(resolve_env("HOME", l), Ok(Some("HOME=/root".into())));
        assert_eq!(resolve_env("EMPTY", l), Ok(Some("EMPTY=".into())));
        assert_eq!(resolve_env("UNSET", l), Ok(None));
        assert_eq!(
            resolve_env("=x", l).unwrap_err().to_string(),
            "invalid environment variable: =x"
        );
    }

    #[test]
    fn env_file_like_docker() {
        let l: Lookup = &lookup;
        let content =
            "\u{feff}# comment\n\nA=1\n  B=two words  \r\nHOME\nUNSET\n   # indented comment\nC=\n";
        assert_eq!(
            parse_kv_file("f", content.as_bytes(), Some(l)).unwrap(),
            ["A=1", "B=two words  ", "HOME=/root", "C="]
        );
        let err = parse_kv_file("env.list", b"BAD KEY=1\n", Some(l)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "reading (env.list) failed: variable 'BAD KEY' contains whitespaces"
        );
        let err = parse_kv_file("f", b"=1\n", Some(l)).unwrap_err();
        assert!(err.to_string().contains("no variable name"), "{err}");
        let err = parse_kv_file("f", b"A=1\nB=\xff\n", Some(l)).unwrap_err();
        assert!(
            err.to_string().contains("invalid utf8 bytes at line 2"),
            "{err}"
        );
    }

    #[test]
    fn env_files_first_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.list");
        std::fs::write(&path, "A=from-file\nB=file\n").unwrap();
        let path = path.to_str().unwrap().to_owned();
        let l: Lookup = &lookup;
        let env = build_env(&["A=flag".into(), "UNSET".into()], &[path], l).unwrap();
        assert_eq!(env, ["A=from-file", "B=file", "A=flag"]);
        let err = build_env(&[], &["/no/such/env".into()], l).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("opening (/no/such/env) failed: No such file"),
            "{err}"
        );
    }

    #[test]
    fn labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels");
        std::fs::write(&path, "# c\na=1\nflag\n").unwrap();
        let labels = build_labels(
            &["b=2".into(), "a=override".into()],
            &[path.to_str().unwrap().to_owned()],
        )
        .unwrap();
        assert_eq!(labels.len(), 3);
        assert_eq!(labels["a"], "override");
        assert_eq!(labels["flag"], "");
        assert_eq!(labels["b"], "2");
        assert!(build_labels(&["=x".into()], &[]).is_err());
    }
}
