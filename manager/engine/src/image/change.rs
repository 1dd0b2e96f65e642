//! `docker import --change` / `docker commit --change`: Dockerfile
//! instructions applied to the runtime part of an OCI image config.
//!
//! Docker joins the changes into a small Dockerfile and dispatches each
//! instruction against the config; we do the same, instruction by
//! instruction, with these rules (docker's unless said otherwise):
//!
//! - The keyword is case-insensitive. A change may hold several lines;
//!   a trailing `\` continues a line, blank lines and `#` comments are
//!   skipped.
//! - `CMD` and `ENTRYPOINT` take a JSON array of strings (exec form) or a
//!   command line (shell form, run as `/bin/sh -c "<line>"`); an empty
//!   array clears the field. Docker falls back to the shell form when a
//!   line starting with `[` is not valid JSON; we refuse it instead, since
//!   on a command line that nearly always means the shell ate the quotes.
//! - `ENTRYPOINT` clears `CMD` unless a `CMD` came earlier in the same
//!   call, as docker's builder does for an inherited `CMD`.
//! - `ENV` and `LABEL` take `k=v k2="v 2"` or the legacy `k v…` form. Keys
//!   and values are shell words: quotes and backslash escapes are removed,
//!   and `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR:+word}` (and the `-`,
//!   `+`, `?`, `:?` forms) expand against the config's environment as it
//!   stood before the instruction. An existing key is replaced.
//! - `EXPOSE 80 443/udp 8000-8002` adds `80/tcp`, `443/udp`, `8000/tcp`…;
//!   protocols are tcp, udp and sctp.
//! - `VOLUME` takes a JSON array or a space-separated list, and adds to the
//!   set. `WORKDIR` joins a relative path onto the previous one (or `/`)
//!   and cleans the result. `USER` is taken as is. `STOPSIGNAL` must name
//!   a Linux signal (`SIGTERM`, `TERM`, `9`, `SIGRTMIN+3`).
//! - `ONBUILD` and `HEALTHCHECK` are accepted by docker, which keeps them
//!   in its own config format; OCI image configs have no field for them,
//!   so they are refused rather than silently dropped.
//!
//! Changes are all-or-nothing: on any error the config is left untouched.

use oci_spec::image::Config;

const SUPPORTED: &str =
    "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR";

/// A `--change` that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error(
        "invalid --change {change:?}: unknown instruction {instruction} (supported: {SUPPORTED})"
    )]
    UnknownInstruction { change: String, instruction: String },
    #[error("invalid --change {change:?}: {instruction} is not supported by OCI image configs")]
    Unsupported { change: String, instruction: String },
    #[error("invalid --change {change:?}: {instruction} requires at least one argument")]
    MissingArgument { change: String, instruction: String },
    #[error("invalid --change {change:?}: {instruction}: malformed JSON array: {reason}")]
    MalformedJson {
        change: String,
        instruction: String,
        reason: String,
    },
    #[error("invalid --change {change:?}: {instruction}: {reason}")]
    Invalid {
        change: String,
        instruction: String,
        reason: String,
    },
}

/// Applies each `--change` to `config`, in order. On error `config` is
/// left as it was.
pub fn apply_changes(config: &mut Config, changes: &[String]) -> Result<(), ChangeError> {
    let mut work = config.clone();
    let mut cmd_set = false;
    for change in changes {
        for line in instruction_lines(change) {
            let line = line.trim();
            let (keyword, rest) = match line.split_once(char::is_whitespace) {
                Some((k, r)) => (k, r.trim()),
                None => (line, ""),
            };
            let instruction = keyword.to_ascii_uppercase();
            apply_one(&mut work, &mut cmd_set, &instruction, rest)
                .map_err(|f| f.into_error(change.clone(), instruction.clone()))?;
        }
    }
    *config = work;
    Ok(())
}

/// Why one instruction failed, before the change text is attached.
enum Failure {
    Unknown,
    Unsupported,
    MissingArgument,
    MalformedJson(String),
    Invalid(String),
}

impl Failure {
    fn into_error(self, change: String, instruction: String) -> ChangeError {
        match self {
            Failure::Unknown => ChangeError::UnknownInstruction {
                change,
                instruction,
            },
            Failure::Unsupported => ChangeError::Unsupported {
                change,
                instruction,
            },
            Failure::MissingArgument => ChangeError::MissingArgument {
                change,
                instruction,
            },
            Failure::MalformedJson(reason) => ChangeError::MalformedJson {
                change,
                instruction,
                reason,
            },
            Failure::Invalid(reason) => ChangeError::Invalid {
                change,
                instruction,
                reason,
            },
        }
    }
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Invalid(reason)
    }
}

/// Splits a change into instruction lines, joining `\` continuations and
/// dropping blank lines and comments, as the Dockerfile parser does.
fn instruction_lines(change: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in change.lines() {
        if current.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        let trimmed = line.trim_end();
        match trimmed.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(trimmed);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// Applies one instruction to `cfg`. `cmd_set` says whether a `CMD` came
/// earlier in the same call (an `ENTRYPOINT` keeps that one).
fn apply_one(
    cfg: &mut Config,
    cmd_set: &mut bool,
    instruction: &str,
    rest: &str,
) -> Result<(), Failure> {
    check_instruction(instruction, rest)?;
    // Expansions see the environment as it stood before the instruction.
    let env = cfg.env().clone().unwrap_or_default();
    match instruction {
        "CMD" => {
            cfg.set_cmd(command_line(rest)?);
            *cmd_set = true;
        }
        "ENTRYPOINT" => {
            cfg.set_entrypoint(command_line(rest)?);
            if !*cmd_set {
                cfg.set_cmd(None);
            }
        }
        "ENV" => set_env(cfg, rest, &env)?,
        "LABEL" => add_labels(cfg, rest, &env)?,
        "EXPOSE" => add_exposed_ports(cfg, rest, &env)?,
        "VOLUME" => add_volumes(cfg, rest, &env)?,
        "USER" => {
            cfg.set_user(Some(non_empty(shell_word(rest, &env)?)?));
        }
        "WORKDIR" => {
            let dir = non_empty(shell_word(rest, &env)?)?;
            let base = cfg.working_dir().clone().unwrap_or_default();
            cfg.set_working_dir(Some(join_workdir(&base, &dir)));
        }
        "STOPSIGNAL" => {
            let sig = non_empty(shell_word(rest, &env)?)?;
            check_signal(&sig)?;
            cfg.set_stop_signal(Some(sig));
        }
        _ => return Err(Failure::Unknown),
    }
    Ok(())
}

/// Refuses an unknown instruction, then one OCI configs cannot hold, then
/// one without arguments: the first that applies is the error reported.
fn check_instruction(instruction: &str, rest: &str) -> Result<(), Failure> {
    const KNOWN: [&str; 11] = [
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "ONBUILD",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ];
    if !KNOWN.contains(&instruction) {
        return Err(Failure::Unknown);
    }
    if matches!(instruction, "ONBUILD" | "HEALTHCHECK") {
        return Err(Failure::Unsupported);
    }
    if rest.is_empty() {
        return Err(Failure::MissingArgument);
    }
    Ok(())
}

/// `ENV`: sets each variable, replacing an existing entry in place.
fn set_env(cfg: &mut Config, rest: &str, env: &[String]) -> Result<(), Failure> {
    let mut vars = env.to_vec();
    for (k, v) in name_values(rest, env, "ENV")? {
        let prefix = format!("{k}=");
        let entry = format!("{k}={v}");
        match vars.iter_mut().find(|e| e.starts_with(&prefix)) {
            Some(e) => *e = entry,
            None => vars.push(entry),
        }
    }
    cfg.set_env(Some(vars));
    Ok(())
}

fn add_labels(cfg: &mut Config, rest: &str, env: &[String]) -> Result<(), Failure> {
    let mut labels = cfg.labels().clone().unwrap_or_default();
    for (k, v) in name_values(rest, env, "LABEL")? {
        labels.insert(k, v);
    }
    cfg.set_labels(Some(labels));
    Ok(())
}

fn add_exposed_ports(cfg: &mut Config, rest: &str, env: &[String]) -> Result<(), Failure> {
    let mut ports = cfg.exposed_ports().clone().unwrap_or_default();
    for word in rest.split_whitespace() {
        for port in port_spec(&shell_word(word, env)?)? {
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
    }
    cfg.set_exposed_ports(Some(ports));
    Ok(())
}

fn add_volumes(cfg: &mut Config, rest: &str, env: &[String]) -> Result<(), Failure> {
    let raw = if rest.starts_with('[') {
        json_array(rest)?
    } else {
        rest.split_whitespace().map(str::to_string).collect()
    };
    let mut volumes = cfg.volumes().clone().unwrap_or_default();
    for word in raw {
        let v = shell_word(&word, env)?;
        if v.trim().is_empty() {
            return Err("VOLUME specified can not be an empty string"
                .to_string()
                .into());
        }
        if !volumes.contains(&v) {
            volumes.push(v);
        }
    }
    cfg.set_volumes(Some(volumes));
    Ok(())
}

fn non_empty(s: String) -> Result<String, Failure> {
    if s.is_empty() {
        Err(Failure::MissingArgument)
    } else {
        Ok(s)
    }
}

/// CMD/ENTRYPOINT: exec form (JSON array) or shell form. An empty array
/// clears the field.
fn command_line(rest: &str) -> Result<Option<Vec<String>>, Failure> {
    let args = if rest.starts_with('[') {
        json_array(rest)?
    } else {
        vec!["/bin/sh".to_string(), "-c".to_string(), rest.to_string()]
    };
    Ok(Some(args).filter(|a| !a.is_empty()))
}

fn json_array(rest: &str) -> Result<Vec<String>, Failure> {
    match serde_json::from_str::<serde_json::Value>(rest) {
        Err(e) => Err(Failure::MalformedJson(e.to_string())),
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                other => Err(Failure::MalformedJson(format!(
                    "expected an array of strings, found {other}"
                ))),
            })
            .collect(),
        Ok(_) => Err(Failure::MalformedJson(
            "expected an array of strings".into(),
        )),
    }
}

/// `k=v k2="v 2"` or the legacy `k v…`, keys and values processed as
/// shell words.
fn name_values(rest: &str, env: &[String], what: &str) -> Result<Vec<(String, String)>, Failure> {
    let words = raw_words(rest);
    let legacy = words.first().is_some_and(|w| !w.contains('='));
    let pairs: Vec<(&str, &str)> = if legacy {
        match rest.split_once(char::is_whitespace) {
            Some((k, v)) if !v.trim().is_empty() => vec![(k, v.trim_start())],
            _ => return Err(format!("{what} must have two arguments").into()),
        }
    } else {
        let mut pairs = Vec::with_capacity(words.len());
        for w in &words {
            match w.split_once('=') {
                Some(kv) => pairs.push(kv),
                None => {
                    return Err(format!(
                        "syntax error - can't find = in {w:?}. Must be of the form: name=value"
                    )
                    .into())
                }
            }
        }
        pairs
    };
    let mut out = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        let key = shell_word(k, env)?;
        if key.is_empty() {
            return Err(format!("{what} names can not be blank").into());
        }
        out.push((key, shell_word(v, env)?));
    }
    Ok(out)
}

/// Splits on whitespace outside quotes, keeping quotes and escapes for
/// [`shell_word`] to process, like the Dockerfile parser's `parseWords`.
fn raw_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (q, '\\') if q != Some('\'') => {
                word.push(c);
                match chars.next() {
                    Some(n) => word.push(n),
                    None => break,
                }
                continue;
            }
            _ => {}
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Processes one shell word: removes quotes and escapes and expands
/// variables from `env` (`K=V` entries; an unset variable is empty).
fn shell_word(raw: &str, env: &[String]) -> Result<String, Failure> {
    let mut lexer = Lexer {
        chars: raw.chars().collect(),
        pos: 0,
        env,
    };
    lexer.word(None).map_err(Failure::Invalid)
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a [String],
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Reads up to `stop` (consumed) or the end.
    fn word(&mut self, stop: Option<char>) -> Result<String, String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.next() else {
                return match stop {
                    Some(s) => Err(format!("missing '{s}' in variable substitution")),
                    None => Ok(out),
                };
            };
            match c {
                c if Some(c) == stop => return Ok(out),
                '\\' => out.extend(self.next()),
                '\'' => loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(c) => out.push(c),
                        None => return Err("unmatched single quote".into()),
                    }
                },
                '"' => loop {
                    match self.next() {
                        Some('"') => break,
                        Some('\\') => out.extend(self.next()),
                        Some('$') => out.push_str(&self.dollar()?),
                        Some(c) => out.push(c),
                        None => return Err("unmatched double quote".into()),
                    }
                },
                '$' => out.push_str(&self.dollar()?),
                c => out.push(c),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            name.push(c);
            self.pos += 1;
        }
        name
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.env.iter().find_map(|e| {
            e.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    /// After a `$`: `$NAME`, `${NAME}` or `${NAME<op>word}`.
    fn dollar(&mut self) -> Result<String, String> {
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        let name = self.name();
        if name.is_empty() {
            return Err("bad substitution: missing variable name after '${'".into());
        }
        let value = self.lookup(&name);
        let colon = self.peek() == Some(':');
        if colon {
            self.pos += 1;
        }
        // With ':' an empty value counts as unset.
        let set = value.as_deref().is_some_and(|v| !colon || !v.is_empty());
        match self.next() {
            Some('}') if !colon => Ok(value.unwrap_or_default()),
            Some('-') => {
                let word = self.word(Some('}'))?;
                Ok(if set { value.unwrap_or_default() } else { word })
            }
            Some('+') => {
                let word = self.word(Some('}'))?;
                Ok(if set { word } else { String::new() })
            }
            Some('?') => {
                let word = self.word(Some('}'))?;
                match value.filter(|_| set) {
                    Some(v) => Ok(v),
                    None if word.is_empty() => Err(format!("{name}: is not allowed to be unset")),
                    None => Err(format!("{name}: {word}")),
                }
            }
            Some(c) => Err(format!(
                "unsupported modifier '{c}' in substitution of {name}"
            )),
            None => Err(format!("missing '}}' in substitution of {name}")),
        }
    }
}

/// `80`, `443/udp`, `8000-8002/tcp` → `80/tcp` …
fn port_spec(spec: &str) -> Result<Vec<String>, String> {
    let bad = |why: &str| format!("invalid port {spec:?}: {why}");
    let (range, proto) = match spec.split_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad("protocol must be tcp, udp or sctp"));
    }
    let port = |s: &str| -> Result<u16, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("ports must be numbers"));
        }
        match s.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(bad("ports must be between 1 and 65535")),
        }
    };
    let (start, end) = match range.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(range)?;
            (p, p)
        }
    };
    if end < start {
        return Err(bad("range end is below its start"));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// A relative WORKDIR joins onto the previous one; the result is clean
/// and absolute.
fn join_workdir(base: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{base}/{dir}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Linux signal names (without `SIG`) that docker accepts.
const SIGNALS: [&str; 34] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

fn check_signal(sig: &str) -> Result<(), String> {
    let bad = || format!("invalid signal {sig:?}");
    if sig.bytes().all(|b| b.is_ascii_digit()) {
        return match sig.parse::<u8>() {
            Ok(n) if (1..=64).contains(&n) => Ok(()),
            _ => Err(bad()),
        };
    }
    let upper = sig.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let rt = |prefix: &str| {
        name.strip_prefix(prefix).is_some_and(|off| {
            off.is_empty()
                || off
                    .get(1..)
                    .and_then(|n| n.parse::<u8>().ok())
                    .is_some_and(|n| (1..=15).contains(&n) && n.to_string().len() + 1 == off.len())
        })
    };
    let rt_ok = (rt("RTMIN") && !name.contains('-')) || (rt("RTMAX") && !name.contains('+'));
    if SIGNALS.contains(&name) || rt_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn apply(changes: &[&str]) -> Result<Config, ChangeError> {
        apply_to(Config::default(), changes)
    }

    fn apply_to(mut cfg: Config, changes: &[&str]) -> Result<Config, ChangeError> {
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut cfg, &changes).map(|()| cfg)
    }

    fn ok(changes: &[&str]) -> Config {
        match apply(changes) {
            Ok(c) => c,
            Err(e) => panic!("{changes:?} should apply: {e}"),
        }
    }

    fn err(changes: &[&str]) -> String {
        match apply(changes) {
            Ok(c) => panic!("{changes:?} should fail, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn v(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let cases: [(&str, Option<Vec<String>>); 6] = [
            (r#"CMD ["echo", "hi"]"#, v(&["echo", "hi"])),
            ("cmd echo hi && ls", v(&["/bin/sh", "-c", "echo hi && ls"])),
            (
                "Cmd   echo \"$HOME\"  ",
                v(&["/bin/sh", "-c", "echo \"$HOME\""]),
            ),
            (r#"CMD ["a b", "c\"d", "\u00e9"]"#, v(&["a b", "c\"d", "é"])),
            ("CMD []", None),
            ("CMD [ ]", None),
        ];
        for (change, want) in cases {
            assert_eq!(ok(&[change]).cmd(), &want, "{change}");
        }
        let c = ok(&[r#"ENTRYPOINT ["/app", "--serve"]"#]);
        assert_eq!(c.entrypoint(), &v(&["/app", "--serve"]));
        assert_eq!(
            ok(&["entrypoint /app run"]).entrypoint(),
            &v(&["/bin/sh", "-c", "/app run"])
        );
    }

    #[test]
    fn entrypoint_clears_only_an_inherited_cmd() {
        let mut base = Config::default();
        base.set_cmd(v(&["sh"]));
        let c = apply_to(base.clone(), &[r#"ENTRYPOINT ["/app"]"#]).ok();
        assert_eq!(c.as_ref().map(|c| c.cmd().clone()), Some(None));

        let c = apply_to(base, &[r#"CMD ["--help"]"#, r#"ENTRYPOINT ["/app"]"#]).ok();
        assert_eq!(c.as_ref().map(|c| c.cmd().clone()), Some(v(&["--help"])));
        assert_eq!(c.map(|c| c.entrypoint().clone()), Some(v(&["/app"])));
    }

    #[test]
    fn env_forms_quotes_and_replacement() {
        let mut base = Config::default();
        base.set_env(v(&["PATH=/usr/bin", "HOME=/root"]));
        let cases: [(&str, &[&str]); 9] = [
            ("ENV A=1", &["PATH=/usr/bin", "HOME=/root", "A=1"]),
            (
                r#"ENV A=1 B="v 2" C='x y' D=a\ b"#,
                &[
                    "PATH=/usr/bin",
                    "HOME=/root",
                    "A=1",
                    "B=v 2",
                    "C=x y",
                    "D=a b",
                ],
            ),
            ("env PATH=/bin:$PATH", &["PATH=/bin:/usr/bin", "HOME=/root"]),
            (
                "ENV P=${HOME}/x Q=${NOPE:-dflt} R=${HOME:+set} S=$NOPE.",
                &[
                    "PATH=/usr/bin",
                    "HOME=/root",
                    "P=/root/x",
                    "Q=dflt",
                    "R=set",
                    "S=.",
                ],
            ),
            (
                r#"ENV E="a\"b" F='$HOME' G="$HOME" H=\$HOME"#,
                &[
                    "PATH=/usr/bin",
                    "HOME=/root",
                    "E=a\"b",
                    "F=$HOME",
                    "G=/root",
                    "H=$HOME",
                ],
            ),
            (
                "ENV MSG hello   big world",
                &["PATH=/usr/bin", "HOME=/root", "MSG=hello   big world"],
            ),
            (
                r#"ENV MSG "quoted value""#,
                &["PATH=/usr/bin", "HOME=/root", "MSG=quoted value"],
            ),
            ("ENV EMPTY=", &["PATH=/usr/bin", "HOME=/root", "EMPTY="]),
            ("ENV HOME=/home/u", &["PATH=/usr/bin", "HOME=/home/u"]),
        ];
        for (change, want) in cases {
            let got = apply_to(base.clone(), &[change]).map(|c| c.env().clone());
            assert_eq!(got, Ok(v(want)), "{change}");
        }
        // Each instruction sees the environment left by the one before.
        let c = ok(&["ENV A=1", "ENV B=$A A=2 C=$A"]);
        assert_eq!(c.env(), &v(&["A=2", "B=1", "C=1"]));
    }

    #[test]
    fn labels() {
        let c = ok(&[
            r#"LABEL a=1 "com.example.vendor"="ACME Inc" b='x y'"#,
            "label legacy some value",
            "LABEL a=2",
        ]);
        let want: HashMap<String, String> = [
            ("a", "2"),
            ("com.example.vendor", "ACME Inc"),
            ("b", "x y"),
            ("legacy", "some value"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(c.labels(), &Some(want));
    }

    #[test]
    fn expose() {
        let c = ok(&["EXPOSE 80 443/udp 8000-8002", "expose 80/tcp 53/UDP 9/sctp"]);
        assert_eq!(
            c.exposed_ports(),
            &v(&["80/tcp", "443/udp", "8000/tcp", "8001/tcp", "8002/tcp", "53/udp", "9/sctp"])
        );
        // Serialized the way docker and OCI expect: a map of empty objects.
        let json = serde_json::to_value(&c).ok();
        let ports = json.as_ref().and_then(|j| j.get("ExposedPorts"));
        assert_eq!(
            ports.and_then(|p| p.get("443/udp")),
            Some(&serde_json::json!({}))
        );
    }

    #[test]
    fn volume_user_workdir_stopsignal() {
        let c = ok(&[
            r#"VOLUME ["/data", "/var/log"]"#,
            "VOLUME /data /cache",
            "USER 1000:1000",
            "WORKDIR /app",
            "WORKDIR src/../lib",
            "STOPSIGNAL SIGINT",
        ]);
        assert_eq!(c.volumes(), &v(&["/data", "/var/log", "/cache"]));
        assert_eq!(c.user().as_deref(), Some("1000:1000"));
        assert_eq!(c.working_dir().as_deref(), Some("/app/lib"));
        assert_eq!(c.stop_signal().as_deref(), Some("SIGINT"));

        let cases = [
            (&["WORKDIR rel"][..], "/rel"),
            (&["WORKDIR /a/", "WORKDIR ./b//c/"][..], "/a/b/c"),
            (&["WORKDIR /a", "WORKDIR /b"][..], "/b"),
            (&["WORKDIR /a", "WORKDIR ../../.."][..], "/"),
            (&["ENV D=/srv", "WORKDIR $D/www"][..], "/srv/www"),
        ];
        for (changes, want) in cases {
            assert_eq!(
                ok(changes).working_dir().as_deref(),
                Some(want),
                "{changes:?}"
            );
        }
        for sig in [
            "SIGTERM",
            "term",
            "9",
            "SIGRTMIN+3",
            "RTMAX-1",
            "SIGRTMIN",
            "sigkill",
        ] {
            let change = format!("STOPSIGNAL {sig}");
            assert_eq!(ok(&[&change]).stop_signal().as_deref(), Some(sig), "{sig}");
        }
    }

    #[test]
    fn multi_line_changes() {
        let c = ok(&["# set up\nENV A=1 \\\n  B=2\n\nUSER nobody", "", "   "]);
        assert_eq!(c.env(), &v(&["A=1", "B=2"]));
        assert_eq!(c.user().as_deref(), Some("nobody"));
    }

    #[test]
    fn errors_name_the_instruction() {
        let cases: [(&[&str], &str); 26] = [
            (
                &["FOO bar"],
                r#"invalid --change "FOO bar": unknown instruction FOO (supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)"#,
            ),
            (&["RUN echo hi"], "unknown instruction RUN"),
            (
                &["onbuild RUN x"],
                r#"invalid --change "onbuild RUN x": ONBUILD is not supported by OCI image configs"#,
            ),
            (&["HEALTHCHECK NONE"], "HEALTHCHECK is not supported"),
            (
                &["CMD"],
                r#"invalid --change "CMD": CMD requires at least one argument"#,
            ),
            (&["ENV   "], "ENV requires at least one argument"),
            (&["ENTRYPOINT"], "ENTRYPOINT requires"),
            (&["EXPOSE"], "EXPOSE requires"),
            (&[r#"CMD ["a", "b""#], "CMD: malformed JSON array"),
            (&["CMD [sh, -c, true]"], "CMD: malformed JSON array"),
            (
                &[r#"ENTRYPOINT ["a", 1]"#],
                "ENTRYPOINT: malformed JSON array: expected an array of strings",
            ),
            (&[r#"VOLUME ["/a""#], "VOLUME: malformed JSON array"),
            (
                &[r#"VOLUME [""]"#],
                "VOLUME specified can not be an empty string",
            ),
            (&["ENV A"], "ENV must have two arguments"),
            (&["ENV A=1 B"], "can't find = in \"B\""),
            (&["ENV =1"], "ENV names can not be blank"),
            (&["LABEL =x"], "LABEL names can not be blank"),
            (&[r#"ENV A="open"#], "ENV: unmatched double quote"),
            (&["ENV A='open"], "unmatched single quote"),
            (&["ENV A=${B"], "missing '}'"),
            (&["ENV A=${B!x}"], "unsupported modifier"),
            (&[r#"ENV A="${B:?must be set}""#], "B: must be set"),
            (
                &["EXPOSE 80/http"],
                "EXPOSE: invalid port \"80/http\": protocol",
            ),
            (&["EXPOSE 0"], "between 1 and 65535"),
            (&["EXPOSE 70000"], "between 1 and 65535"),
            (&["EXPOSE 90-80"], "range end is below its start"),
        ];
        for (changes, want) in cases {
            let got = err(changes);
            assert!(got.contains(want), "{changes:?}: {got:?} lacks {want:?}");
        }
        for bad in [
            "STOPSIGNAL SIGFOO",
            "STOPSIGNAL 0",
            "STOPSIGNAL 65",
            "STOPSIGNAL RTMIN+16",
            "STOPSIGNAL RTMIN-1",
            "STOPSIGNAL RTMIN+03",
        ] {
            assert!(err(&[bad]).contains("invalid signal"), "{bad}");
        }
        assert!(err(&["EXPOSE a-b"]).contains("ports must be numbers"));
        assert!(err(&["USER \"\""]).contains("USER requires"));
    }

    #[test]
    fn failure_leaves_the_config_untouched() {
        let mut cfg = Config::default();
        cfg.set_user(Some("root".into()));
        let before = cfg.clone();
        let changes = vec![
            "USER nobody".to_string(),
            "ENV A=1".to_string(),
            "BOGUS".to_string(),
        ];
        assert!(apply_changes(&mut cfg, &changes).is_err());
        assert_eq!(cfg, before);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "\\",
            "ENV \\",
            "ENV A=\\",
            "ENV A=$",
            "ENV A=${",
            "ENV A=${}",
            "EXPOSE -",
            "EXPOSE /",
            "CMD [",
            "WORKDIR ..",
            "ENV é=ü",
            "STOPSIGNAL SIGRTMIN+é",
            "LABEL \"",
            "\u{0}",
        ] {
            let _ = apply(&[s]);
        }
    }
}
