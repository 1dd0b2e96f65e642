//! The container log in docker's json-file format: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"<rfc3339 nanos>"}`, with lines
//! longer than 16 KiB split into partial messages as docker does, and
//! size-based rotation (`log` → `log.1` → ... → `log.N`).
//!
//! Writes are plain synchronous `write(2)` calls of one encoded line: they are
//! short, and the shim has no thread to hand them to.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::timestamp::rfc3339_nanos;
use super::IoError;

/// Docker splits a line longer than this into several messages.
pub const MAX_LINE: usize = 16 * 1024;

/// Which of the container's streams a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Cuts a byte stream into messages: each complete line (with its `\n`), or
/// `max` bytes of a longer one (without a newline, a "partial" message).
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    max: usize,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        LineSplitter {
            pending: Vec::new(),
            max: max.max(1),
        }
    }

    /// Feeds `data`, calling `emit` for every message it completes.
    pub fn push(&mut self, mut data: &[u8], emit: &mut dyn FnMut(&[u8])) {
        while !data.is_empty() {
            let room = self.max - self.pending.len();
            let window = &data[..data.len().min(room)];
            if let Some(i) = window.iter().position(|&b| b == b'\n') {
                let (line, rest) = data.split_at(i + 1);
                if self.pending.is_empty() {
                    emit(line);
                } else {
                    self.pending.extend_from_slice(line);
                    emit(&self.pending);
                    self.pending.clear();
                }
                data = rest;
            } else {
                self.pending.extend_from_slice(window);
                data = &data[window.len()..];
                if self.pending.len() == self.max {
                    emit(&self.pending);
                    self.pending.clear();
                }
            }
        }
        // A long line's buffer is not kept around once it has been written.
        if self.pending.is_empty() && self.pending.capacity() > 4096 {
            self.pending = Vec::new();
        }
    }

    /// The stream ended: emits what is left (a last line without `\n`).
    pub fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
        }
        self.pending = Vec::new();
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

/// An open json-file log with rotation.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    /// Rotate before a write would take the file past this; 0 never.
    max_size: u64,
    /// Rotated files kept (log.1 .. log.N); 0 truncates instead.
    max_files: u32,
    buf: Vec<u8>,
}

impl LogFile {
    /// Opens (creating it if needed) the log at `path` for appending.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> Result<LogFile, IoError> {
        let file = open_append(path)?;
        let size = file
            .metadata()
            .map_err(|e| IoError::file("stat", path, e))?
            .len();
        Ok(LogFile {
            path: path.to_owned(),
            file,
            size,
            max_size,
            max_files,
            buf: Vec::new(),
        })
    }

    /// Appends one message read at `time`.
    pub fn write(&mut self, stream: Stream, msg: &[u8], time: SystemTime) -> Result<(), IoError> {
        encode(&mut self.buf, stream, msg, time);
        let len = self.buf.len() as u64;
        if self.max_size > 0 && self.size > 0 && self.size + len > self.max_size {
            self.rotate()?;
        }
        let r = self.file.write_all(&self.buf);
        self.buf.clear();
        if self.buf.capacity() > 4 * MAX_LINE {
            self.buf = Vec::new();
        }
        r.map_err(|e| IoError::file("write", &self.path, e))?;
        self.size += len;
        Ok(())
    }

    /// log.(N-1) → log.N, ..., log → log.1, then a fresh log.
    fn rotate(&mut self) -> Result<(), IoError> {
        if self.max_files == 0 {
            self.file
                .set_len(0)
                .map_err(|e| IoError::file("truncate", &self.path, e))?;
            self.size = 0;
            return Ok(());
        }
        let n = self.max_files;
        remove_if_exists(&rotated(&self.path, n))?;
        for i in (1..n).rev() {
            rename_if_exists(&rotated(&self.path, i), &rotated(&self.path, i + 1))?;
        }
        rename_if_exists(&self.path, &rotated(&self.path, 1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// `log.N`.
fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn open_append(path: &Path) -> Result<File, IoError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| IoError::file("open", path, e))
}

fn remove_if_exists(path: &Path) -> Result<(), IoError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(IoError::file("remove", path, e)),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> Result<(), IoError> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(IoError::file("rename", from, e)),
        _ => Ok(()),
    }
}

/// One json-file line. Bytes that are not UTF-8 become U+FFFD, as docker's
/// encoder does.
fn encode(buf: &mut Vec<u8>, stream: Stream, msg: &[u8], time: SystemTime) {
    let log = String::from_utf8_lossy(msg);
    let time = rfc3339_nanos(time);
    let entry = Entry {
        log: &log,
        stream: stream.as_str(),
        time: &time,
    };
    // Serializing strings into a Vec cannot fail.
    if serde_json::to_writer(&mut *buf, &entry).is_ok() {
        buf.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn split(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |m| {
                out.push(String::from_utf8_lossy(m).into_owned())
            });
        }
        s.finish(&mut |m| out.push(String::from_utf8_lossy(m).into_owned()));
        out
    }

    #[test]
    fn lines_are_joined_across_reads_and_split_at_newlines() {
        assert_eq!(
            split(16, &[b"a\nb", b"c\n", b"d\ne\n"]),
            ["a\n", "bc\n", "d\n", "e\n"]
        );
        assert_eq!(split(16, &[b"no newline"]), ["no newline"]);
        assert_eq!(split(16, &[b"\n\n"]), ["\n", "\n"]);
    }

    #[test]
    fn long_lines_become_partial_messages() {
        assert_eq!(split(4, &[b"abcdefghij\n"]), ["abcd", "efgh", "ij\n"]);
        assert_eq!(split(4, &[b"ab", b"cdef", b"g\n"]), ["abcd", "efg\n"]);
        assert_eq!(split(4, &[b"abcd\n"]), ["abcd", "\n"]);
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn entries_are_docker_json_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut log = LogFile::open(&p, 0, 0).unwrap();
        let t = UNIX_EPOCH + Duration::new(1_795_428_000, 123_456_789);
        log.write(Stream::Stdout, b"hi \"there\"\n", t).unwrap();
        log.write(Stream::Stderr, b"bad \xff byte", t).unwrap();
        let raw = fs::read_to_string(&p).unwrap();
        assert!(raw.starts_with(
            r#"{"log":"hi \"there\"\n","stream":"stdout","time":"2026-11-23T10:00:00.123456789Z"}"#
        ));
        let l = lines(&p);
        assert_eq!(l[1]["log"], "bad \u{fffd} byte");
        assert_eq!(l[1]["stream"], "stderr");
    }

    #[test]
    fn rotation_keeps_max_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut log = LogFile::open(&p, 200, 2).unwrap();
        for i in 0..30 {
            log.write(
                Stream::Stdout,
                format!("line {i}\n").as_bytes(),
                SystemTime::now(),
            )
            .unwrap();
        }
        for f in [&p, &rotated(&p, 1), &rotated(&p, 2)] {
            let len = fs::metadata(f).unwrap().len();
            assert!(len > 0 && len <= 200, "{} is {len} bytes", f.display());
        }
        assert!(!rotated(&p, 3).exists());
        let last = lines(&p);
        assert_eq!(last.last().unwrap()["log"], "line 29\n");
        // The rotated files hold the lines just before, in order.
        let older = lines(&rotated(&p, 1));
        let n: usize = older.last().unwrap()["log"]
            .as_str()
            .unwrap()
            .trim()
            .trim_start_matches("line ")
            .parse()
            .unwrap();
        assert_eq!(
            n + 1,
            last[0]["log"]
                .as_str()
                .unwrap()
                .trim()
                .trim_start_matches("line ")
                .parse::<usize>()
                .unwrap()
        );
    }

    #[test]
    fn zero_max_files_truncates() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut log = LogFile::open(&p, 150, 0).unwrap();
        for i in 0..10 {
            log.write(
                Stream::Stdout,
                format!("{i}\n").as_bytes(),
                SystemTime::now(),
            )
            .unwrap();
        }
        assert!(fs::metadata(&p).unwrap().len() <= 150);
        assert!(!rotated(&p, 1).exists());
        assert_eq!(lines(&p).last().unwrap()["log"], "9\n");
    }
}
