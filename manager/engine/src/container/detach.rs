//! docker's detach keys: the sequence (default ctrl-p ctrl-q) that, typed
//! on an attached client's stdin, detaches that client and leaves the
//! container running. Parsed as docker's `term.ToBytes` does and matched as
//! its escape proxy does: bytes that could start the sequence are held
//! back; if the sequence completes they are swallowed and the client
//! detaches, if it breaks they go on to the container unchanged.

use crate::error::{ManagerError, Result};

/// docker's default: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// The names docker gives control characters, by their code (0 to 31).
const CONTROL_NAMES: [&str; 32] = [
    "ctrl-@", "ctrl-a", "ctrl-b", "ctrl-c", "ctrl-d", "ctrl-e", "ctrl-f", "ctrl-g", "ctrl-h",
    "ctrl-i", "ctrl-j", "ctrl-k", "ctrl-l", "ctrl-m", "ctrl-n", "ctrl-o", "ctrl-p", "ctrl-q",
    "ctrl-r", "ctrl-s", "ctrl-t", "ctrl-u", "ctrl-v", "ctrl-w", "ctrl-x", "ctrl-y", "ctrl-z",
    "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_",
];

/// Parses docker's detach-keys format ("ctrl-p,ctrl-q", "a,ctrl-x", "DEL");
/// "" is the default. INVALID_ARGUMENT with docker's message otherwise.
pub fn parse_detach_keys(keys: &str) -> Result<Vec<u8>> {
    let keys = if keys.is_empty() {
        DEFAULT_DETACH_KEYS
    } else {
        keys
    };
    let bad = || ManagerError::InvalidArgument(format!("Invalid detach keys ({keys}) provided"));
    let mut out = Vec::new();
    for key in keys.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else if key == "DEL" {
            out.push(127);
        } else {
            let code = CONTROL_NAMES
                .iter()
                .position(|n| *n == key)
                .ok_or_else(bad)?;
            out.push(code as u8);
        }
    }
    Ok(out)
}

/// What a chunk of stdin amounts to.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// Bytes to send on (possibly none, while a partial sequence is held).
    Forward(Vec<u8>),
    /// The sequence was typed: send these bytes (what came before it in the
    /// chunk), then detach; what followed it is discarded.
    Detach(Vec<u8>),
}

/// Watches one client's stdin for the detach sequence.
#[derive(Debug)]
pub struct DetachMatcher {
    keys: Vec<u8>,
    /// How many bytes of `keys` were seen last (held back).
    matched: usize,
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> DetachMatcher {
        DetachMatcher { keys, matched: 0 }
    }

    /// Scans the next chunk of stdin.
    pub fn scan(&mut self, data: &[u8]) -> Scan {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Scan::Detach(out);
                }
                continue;
            }
            // The sequence broke: what was held goes on, and this byte may
            // start it again (docker's proxy restarts the match the same
            // way).
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return Scan::Detach(out);
                }
            } else {
                out.push(b);
            }
        }
        Scan::Forward(out)
    }

    /// stdin ended: a partial sequence held back goes on after all.
    pub fn flush(&mut self) -> Vec<u8> {
        let held = self.keys[..self.matched].to_vec();
        self.matched = 0;
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_key_names() {
        assert_eq!(parse_detach_keys("").unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@,ctrl-_").unwrap(), [b'a', 0, 31]);
        assert_eq!(
            parse_detach_keys("ctrl-\\,DEL,,").unwrap_err().kind(),
            crate::ErrorKind::InvalidArgument
        );
        assert_eq!(parse_detach_keys("ctrl-\\,DEL").unwrap(), [28, 127]);
        for bad in ["ctrl-P", "ctrl-1", "ab", "ctrl-", "x,,y"] {
            let e = parse_detach_keys(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("Invalid detach keys ({bad}) provided")
            );
        }
    }

    #[test]
    fn the_sequence_detaches_and_is_swallowed() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.scan(b"ls\r"), Scan::Forward(b"ls\r".to_vec()));
        assert_eq!(m.scan(b"ab\x10\x11cd"), Scan::Detach(b"ab".to_vec()));
        // Split across chunks: the first key is held, then swallowed.
        assert_eq!(m.scan(b"x\x10"), Scan::Forward(b"x".to_vec()));
        assert_eq!(m.scan(b"\x11"), Scan::Detach(vec![]));
    }

    #[test]
    fn a_broken_sequence_goes_on_unchanged() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.scan(b"\x10"), Scan::Forward(vec![]));
        assert_eq!(m.scan(b"a"), Scan::Forward(b"\x10a".to_vec()));
        // ctrl-p ctrl-p ctrl-q: the second ctrl-p starts it again.
        assert_eq!(m.scan(b"\x10\x10\x11"), Scan::Detach(b"\x10".to_vec()));
        assert_eq!(m.scan(b"\x10"), Scan::Forward(vec![]));
        assert_eq!(m.flush(), b"\x10");
        assert_eq!(m.flush(), b"");
        let mut single = DetachMatcher::new(vec![b'q']);
        assert_eq!(single.scan(b"abq"), Scan::Detach(b"ab".to_vec()));
        let mut none = DetachMatcher::new(vec![]);
        assert_eq!(none.scan(b"\x10\x11"), Scan::Forward(b"\x10\x11".to_vec()));
    }
}
