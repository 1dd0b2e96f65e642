//! Reading docker json-file logs as the shim writes them: one JSON object a
//! line (`{"log":"hi\n","stream":"stdout","time":"<rfc3339 nanos>"}`), the
//! live file `<id>-json.log` and rotated files `.1` (newest) .. `.N`
//! (oldest). Blocking code: callers run it on the blocking pool.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One chunk of container output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// "stdout" or "stderr".
    pub stream: String,
    pub data: Vec<u8>,
    /// RFC 3339 with nanoseconds, as the shim wrote it.
    pub time: String,
}

#[derive(Deserialize)]
struct Line {
    log: String,
    stream: String,
    time: String,
}

/// Parses one log line; `None` for a line that is not a log entry.
pub fn parse_line(line: &[u8]) -> Option<Entry> {
    let l: Line = serde_json::from_slice(line).ok()?;
    Some(Entry {
        stream: l.stream,
        data: l.log.into_bytes(),
        time: l.time,
    })
}

/// Parses `--since`/`--until`: RFC 3339, unix seconds (`1700000000` or
/// `1700000000.5`), or a duration before `now` (`10m`, `1h30m`, `45s`).
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            let whole = secs.trunc() as i64;
            let nanos = ((secs - secs.trunc()) * 1e9).round() as u32;
            if let Some(t) = DateTime::from_timestamp(whole, nanos.min(999_999_999)) {
                return Ok(t);
            }
        }
    }
    if let Some(d) = parse_duration(s) {
        if let Some(t) = now.checked_sub_signed(d) {
            return Ok(t);
        }
    }
    Err(format!(
        "invalid time {s:?}: use RFC 3339 (2006-01-02T15:04:05Z), unix seconds, or a duration such as 10m"
    ))
}

/// Go-style durations: a sequence of `<number><unit>` with units ns, us,
/// ms, s, m, h.
fn parse_duration(s: &str) -> Option<chrono::Duration> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += value * mult;
    }
    chrono::Duration::from_std(std::time::Duration::try_from_secs_f64(total).ok()?).ok()
}

/// Which entries a reader keeps.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// What a filter says about one entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Skip,
    /// Past `until`: nothing later is wanted.
    Stop,
}

impl Filter {
    /// Judges one entry.
    pub fn judge(&self, e: &Entry) -> Verdict {
        if self.since.is_some() || self.until.is_some() {
            if let Ok(t) = DateTime::parse_from_rfc3339(&e.time) {
                let t = t.with_timezone(&Utc);
                if self.until.is_some_and(|u| t >= u) {
                    return Verdict::Stop;
                }
                if self.since.is_some_and(|s| t < s) {
                    return Verdict::Skip;
                }
            }
        }
        let wanted = match e.stream.as_str() {
            "stdout" => self.stdout,
            "stderr" => self.stderr,
            _ => self.stdout || self.stderr,
        };
        if wanted {
            Verdict::Keep
        } else {
            Verdict::Skip
        }
    }
}

/// The rotated files of `log` that exist, oldest first (`.N` .. `.1`).
pub fn rotated_files(log: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for n in 1.. {
        let mut p = log.as_os_str().to_owned();
        p.push(format!(".{n}"));
        let p = PathBuf::from(p);
        if !p.exists() {
            break;
        }
        out.push(p);
    }
    out.reverse();
    out
}

/// Collects what history emits: everything, or only the last `tail`.
pub struct Sink<'a> {
    tail: Option<usize>,
    ring: VecDeque<Entry>,
    emit: &'a mut dyn FnMut(Entry) -> bool,
    /// The consumer is gone or `until` passed.
    pub done: bool,
}

impl<'a> Sink<'a> {
    /// `tail` None keeps everything; `emit` returns false to stop.
    pub fn new(tail: Option<usize>, emit: &'a mut dyn FnMut(Entry) -> bool) -> Sink<'a> {
        Sink {
            tail,
            ring: VecDeque::new(),
            emit,
            done: false,
        }
    }

    fn push(&mut self, filter: &Filter, e: Entry) {
        if self.done {
            return;
        }
        match filter.judge(&e) {
            Verdict::Skip => {}
            Verdict::Stop => self.done = true,
            Verdict::Keep => match self.tail {
                Some(0) => {}
                Some(n) => {
                    if self.ring.len() == n {
                        self.ring.pop_front();
                    }
                    self.ring.push_back(e);
                }
                None => {
                    if !(self.emit)(e) {
                        self.done = true;
                    }
                }
            },
        }
    }

    /// Emits what the tail kept.
    pub fn finish(mut self) -> bool {
        while let Some(e) = self.ring.pop_front() {
            if !(self.emit)(e) {
                return false;
            }
        }
        !self.done
    }
}

/// Reads every complete entry of a whole (rotated) file into the sink.
pub fn read_file(path: &Path, filter: &Filter, sink: &mut Sink<'_>) -> io::Result<()> {
    let f = match File::open(path) {
        Ok(f) => f,
        // Rotated away meanwhile: its entries moved to the next name.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut r = BufReader::with_capacity(64 << 10, f);
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 || sink.done {
            return Ok(());
        }
        if line.ends_with(b"\n") {
            if let Some(e) = parse_line(&line) {
                sink.push(filter, e);
            }
        }
    }
}

/// Follows the live log file: reads what was appended since the last poll
/// and, at its end, notices a rotation (the name now points at a new file)
/// and continues in the new file.
pub struct Follower {
    path: PathBuf,
    file: File,
    ino: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// Opens the live file at its start.
    pub fn open(path: &Path) -> io::Result<Follower> {
        let file = File::open(path)?;
        let ino = file.metadata()?.ino();
        Ok(Follower {
            path: path.to_path_buf(),
            file,
            ino,
            partial: Vec::new(),
        })
    }

    /// Opens the live file at its end: only new output will be read.
    pub fn open_at_end(path: &Path) -> io::Result<Follower> {
        use std::io::{Seek, SeekFrom};
        let mut f = Follower::open(path)?;
        f.file.seek(SeekFrom::End(0))?;
        Ok(f)
    }

    /// Reads every complete entry appended since the last call into `emit`;
    /// follows a rotation once the old file is drained.
    pub fn poll(&mut self, filter: &Filter, sink: &mut Sink<'_>) -> io::Result<()> {
        loop {
            self.drain(filter, sink)?;
            if sink.done {
                return Ok(());
            }
            match std::fs::metadata(&self.path) {
                Ok(m) if m.ino() != self.ino => {
                    // Rotated: the old file (drained above) is now `.1`.
                    // Whatever it held without a final newline is lost to
                    // the rotation, as in docker.
                    let f = File::open(&self.path)?;
                    self.ino = f.metadata()?.ino();
                    self.file = f;
                    self.partial.clear();
                }
                _ => return Ok(()),
            }
        }
    }

    fn drain(&mut self, filter: &Filter, sink: &mut Sink<'_>) -> io::Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match self.file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.partial.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(nl) = self.partial[start..].iter().position(|b| *b == b'\n') {
                let line = &self.partial[start..start + nl + 1];
                if let Some(e) = parse_line(line) {
                    sink.push(filter, e);
                }
                start += nl + 1;
                if sink.done {
                    break;
                }
            }
            self.partial.drain(..start);
            if sink.done {
                return Ok(());
            }
        }
    }
}

/// Reads a container's history (rotated files oldest first, then the live
/// file through `live`, which then keeps following where history ended)
/// into `sink`. A missing live file is an empty log.
pub fn read_history(
    log: &Path,
    live: Option<&mut Follower>,
    filter: &Filter,
    sink: &mut Sink<'_>,
) -> io::Result<()> {
    for p in rotated_files(log) {
        read_file(&p, filter, sink)?;
        if sink.done {
            return Ok(());
        }
    }
    if let Some(f) = live {
        f.poll(filter, sink)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(stream: &str, log: &str, time: &str) -> String {
        serde_json::json!({"log": log, "stream": stream, "time": time}).to_string() + "\n"
    }

    fn t(sec: u32) -> String {
        format!("2026-11-23T10:00:{sec:02}.123456789Z")
    }

    fn all() -> Filter {
        Filter {
            stdout: true,
            stderr: true,
            ..Default::default()
        }
    }

    fn collect(
        log: &Path,
        live: Option<&mut Follower>,
        filter: &Filter,
        tail: Option<usize>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mut emit = |e: Entry| {
            out.push(format!(
                "{}:{}",
                e.stream,
                String::from_utf8_lossy(&e.data).trim_end()
            ));
            true
        };
        let mut sink = Sink::new(tail, &mut emit);
        read_history(log, live, filter, &mut sink).unwrap();
        sink.finish();
        out
    }

    /// A log rotated twice: .2 (oldest), .1, live.
    fn rotated_log(dir: &Path) -> PathBuf {
        let log = dir.join("c-json.log");
        std::fs::write(
            dir.join("c-json.log.2"),
            line("stdout", "one\n", &t(1)) + &line("stderr", "two\n", &t(2)),
        )
        .unwrap();
        std::fs::write(
            dir.join("c-json.log.1"),
            line("stdout", "three\n", &t(3)) + "not json\n" + &line("stdout", "four\n", &t(4)),
        )
        .unwrap();
        std::fs::write(
            &log,
            line("stderr", "five\n", &t(5)) + &line("stdout", "six\n", &t(6)) + "{\"log\":\"par",
        )
        .unwrap();
        log
    }

    #[test]
    fn history_across_rotated_files() {
        let d = tempfile::tempdir().unwrap();
        let log = rotated_log(d.path());
        assert_eq!(
            rotated_files(&log),
            [d.path().join("c-json.log.2"), d.path().join("c-json.log.1")]
        );
        let mut live = Follower::open(&log).unwrap();
        let got = collect(&log, Some(&mut live), &all(), None);
        assert_eq!(
            got,
            [
                "stdout:one",
                "stderr:two",
                "stdout:three",
                "stdout:four",
                "stderr:five",
                "stdout:six"
            ]
        );
        // Tail counts entries across files.
        let mut live = Follower::open(&log).unwrap();
        assert_eq!(
            collect(&log, Some(&mut live), &all(), Some(3)),
            ["stdout:four", "stderr:five", "stdout:six"]
        );
        let mut live = Follower::open(&log).unwrap();
        assert!(collect(&log, Some(&mut live), &all(), Some(0)).is_empty());
        // Stream selection, then tail.
        let f = Filter {
            stderr: true,
            ..Default::default()
        };
        let mut live = Follower::open(&log).unwrap();
        assert_eq!(
            collect(&log, Some(&mut live), &f, Some(5)),
            ["stderr:two", "stderr:five"]
        );
        // since is inclusive, until exclusive.
        let f = Filter {
            since: Some(parse_time(&t(3), Utc::now()).unwrap()),
            until: Some(parse_time(&t(5), Utc::now()).unwrap()),
            ..all()
        };
        let mut live = Follower::open(&log).unwrap();
        assert_eq!(
            collect(&log, Some(&mut live), &f, None),
            ["stdout:three", "stdout:four"]
        );
        // No live file: only the rotated ones.
        std::fs::remove_file(&log).unwrap();
        assert_eq!(collect(&log, None, &all(), Some(1)), ["stdout:four"]);
    }

    #[test]
    fn follower_sees_appends_and_rotation() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("c-json.log");
        std::fs::write(&log, line("stdout", "old\n", &t(1))).unwrap();
        let mut f = Follower::open_at_end(&log).unwrap();
        let mut out = Vec::new();
        let mut poll = |f: &mut Follower| {
            let mut emit = |e: Entry| {
                out.push(String::from_utf8_lossy(&e.data).trim_end().to_string());
                true
            };
            let mut sink = Sink::new(None, &mut emit);
            f.poll(&all(), &mut sink).unwrap();
        };
        poll(&mut f);
        // A line written in two pieces is read once it is complete.
        let full = line("stdout", "new\n", &t(2));
        let (a, b) = full.split_at(10);
        let mut w = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        w.write_all(a.as_bytes()).unwrap();
        poll(&mut f);
        w.write_all(b.as_bytes()).unwrap();
        w.write_all(line("stdout", "before rotation\n", &t(3)).as_bytes())
            .unwrap();
        drop(w);
        // Rotation: live → .1, a new live file.
        std::fs::rename(&log, d.path().join("c-json.log.1")).unwrap();
        std::fs::write(&log, line("stderr", "after rotation\n", &t(4))).unwrap();
        poll(&mut f);
        poll(&mut f);
        assert_eq!(out, ["new", "before rotation", "after rotation"]);
    }

    #[test]
    fn times() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| parse_time(s, now).unwrap().to_rfc3339();
        assert_eq!(at("2026-01-01T00:00:00Z"), "2026-01-01T00:00:00+00:00");
        assert_eq!(at("2026-01-01T01:00:00+01:00"), "2026-01-01T00:00:00+00:00");
        assert_eq!(at("0"), "1970-01-01T00:00:00+00:00");
        assert_eq!(at("1.5"), "1970-01-01T00:00:01.500+00:00");
        assert_eq!(at("10m"), "2026-01-01T00:00:00+00:00");
        assert_eq!(at("1m30s"), "2026-01-01T00:08:30+00:00");
        for bad in ["", "yesterday", "10x", "-5", "1h-2m"] {
            assert!(parse_time(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lines() {
        let e = parse_line(br#"{"log":"a\u0000b\n","stream":"stderr","time":"x"}"#).unwrap();
        assert_eq!(e.data, b"a\0b\n");
        assert_eq!(e.stream, "stderr");
        assert!(parse_line(b"{}").is_none());
        assert!(parse_line(b"garbage").is_none());
    }
}
