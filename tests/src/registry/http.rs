//! Just enough HTTP/1.1 for the registry fixtures: message heads, bodies
//! delimited by length, chunks or the end of the stream (copied with an
//! optional edit, for the proxy), and a one-shot plain-HTTP client.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A response of [`http`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One plain-HTTP/1.1 request to `host` ("127.0.0.1:PORT") with
/// `Connection: close`, the whole response read.
pub fn http(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s);
    let head = read_head(&mut r)?
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no response"))?;
    let head = Head::parse(&head)?;
    let mut body = Vec::new();
    let kind = head.response_body(method);
    copy_body(&mut r, &mut body, kind, &mut |_: &mut [u8], _| {})?;
    Ok(HttpResponse {
        status: head.status,
        headers: head.headers,
        body,
    })
}

/// The head of a message up to and including the empty line; None at a
/// clean end of stream before any byte.
pub(super) fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let n = r.read_until(b'\n', &mut head)?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "end of stream inside a message head",
            ));
        }
        if head.ends_with(b"\r\n\r\n") || head == b"\r\n" || head.ends_with(b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > 64 * 1024 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "message head over 64 KiB",
            ));
        }
    }
}

/// A parsed request or response head.
#[derive(Debug)]
pub(super) struct Head {
    /// Request: method; response: "".
    pub(super) method: String,
    /// Request: the target; response: "".
    pub(super) target: String,
    /// Response: the status code; request: 0.
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
}

/// How a message's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyKind {
    None,
    Length(u64),
    Chunked,
    UntilEof,
}

impl Head {
    pub(super) fn parse(raw: &[u8]) -> std::io::Result<Head> {
        let text = String::from_utf8_lossy(raw);
        let mut lines = text.split("\r\n");
        let first = lines.next().unwrap_or_default();
        let mut parts = first.splitn(3, ' ');
        let a = parts.next().unwrap_or_default();
        let b = parts.next().unwrap_or_default();
        let (method, target, status) = if a.starts_with("HTTP/") {
            let status = b.parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("status line {first:?}"),
                )
            })?;
            (String::new(), String::new(), status)
        } else {
            (a.to_string(), b.to_string(), 0)
        };
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Head {
            method,
            target,
            status,
            headers,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    fn length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }

    pub(super) fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    pub(super) fn request_body(&self) -> BodyKind {
        if self.chunked() {
            BodyKind::Chunked
        } else {
            self.length().map_or(BodyKind::None, BodyKind::Length)
        }
    }

    pub(super) fn response_body(&self, method: &str) -> BodyKind {
        if method == "HEAD" || self.status == 204 || self.status == 304 || self.status < 200 {
            BodyKind::None
        } else if self.chunked() {
            BodyKind::Chunked
        } else {
            self.length().map_or(BodyKind::UntilEof, BodyKind::Length)
        }
    }
}

/// Copies a body, passing each piece of data (not chunk framing) with its
/// offset in the body through `edit` before writing it.
pub(super) fn copy_body(
    r: &mut impl BufRead,
    w: &mut impl Write,
    kind: BodyKind,
    edit: &mut dyn FnMut(&mut [u8], u64),
) -> std::io::Result<()> {
    let mut offset = 0u64;
    match kind {
        BodyKind::None => {}
        BodyKind::Length(n) => copy_data(r, w, n, &mut offset, edit)?,
        BodyKind::UntilEof => copy_data(r, w, u64::MAX, &mut offset, edit)?,
        BodyKind::Chunked => loop {
            let mut line = Vec::new();
            r.read_until(b'\n', &mut line)?;
            w.write_all(&line)?;
            let size = String::from_utf8_lossy(&line);
            let size = size.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("chunk size {size:?}"),
                )
            })?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut t = Vec::new();
                    if r.read_until(b'\n', &mut t)? == 0 {
                        return Ok(());
                    }
                    w.write_all(&t)?;
                    if t == b"\r\n" || t == b"\n" {
                        break;
                    }
                }
                break;
            }
            copy_data(r, w, size, &mut offset, edit)?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
            w.write_all(&crlf)?;
        },
    }
    w.flush()
}

/// Copies `n` bytes (`u64::MAX`: to the end of the stream) through `edit`.
pub(super) fn copy_data(
    r: &mut impl BufRead,
    w: &mut impl Write,
    n: u64,
    offset: &mut u64,
    edit: &mut dyn FnMut(&mut [u8], u64),
) -> std::io::Result<()> {
    let mut left = n;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = r.read(&mut buf[..want])?;
        if got == 0 {
            if n == u64::MAX {
                return Ok(());
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "end of stream inside a body",
            ));
        }
        edit(&mut buf[..got], *offset);
        w.write_all(&buf[..got])?;
        *offset += got as u64;
        if n != u64::MAX {
            left -= got as u64;
        }
    }
    Ok(())
}
