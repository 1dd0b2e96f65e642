//! Progress where no terminal is: docker's non-terminal output, one line
//! per status change of each layer ("a3ed95caeb02: Pull complete") and the
//! operation's own lines, without the byte-count updates.

use std::collections::HashMap;
use std::io::{self, Write};

use berth_proto::v1::TransferProgress;

use super::{has_counts, is_operation_line, line, Renderer};

pub struct Plain<W: Write> {
    out: W,
    /// The last status printed for each layer.
    last: HashMap<String, String>,
}

impl<W: Write> Plain<W> {
    pub fn new(out: W) -> Self {
        Plain {
            out,
            last: HashMap::new(),
        }
    }

    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Renderer for Plain<W> {
    fn event(&mut self, event: &TransferProgress) -> io::Result<()> {
        if event.status.is_empty() {
            return Ok(());
        }
        if !is_operation_line(event) {
            if has_counts(event) {
                return Ok(());
            }
            if self.last.get(&event.id) == Some(&event.status) {
                return Ok(());
            }
            self.last.insert(event.id.clone(), event.status.clone());
        }
        writeln!(self.out, "{}", line(event))?;
        // Line by line, so a pipe shows each step as it happens.
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use berth_proto::v1::{transfer_progress, PullResult};

    use super::*;

    fn ev(id: &str, status: &str) -> TransferProgress {
        TransferProgress {
            id: id.into(),
            status: status.into(),
            ..Default::default()
        }
    }

    fn counts(id: &str, status: &str, current: u64, total: u64) -> TransferProgress {
        TransferProgress {
            current,
            total,
            ..ev(id, status)
        }
    }

    fn render(events: &[TransferProgress]) -> String {
        let mut plain = Plain::new(Vec::new());
        for e in events {
            plain.event(e).unwrap();
        }
        plain.finish().unwrap();
        String::from_utf8(plain.into_inner()).unwrap()
    }

    #[test]
    fn a_pull_reads_like_docker_without_a_terminal() {
        let layer = "a3ed95caeb02";
        let other = "5b0d2d635df8";
        let out = render(&[
            ev("latest", "Pulling from library/busybox"),
            ev(layer, "Pulling fs layer"),
            ev(other, "Pulling fs layer"),
            ev(other, "Waiting"),
            counts(layer, "Downloading", 0, 2_000_000),
            counts(layer, "Downloading", 1_000_000, 2_000_000),
            counts(layer, "Downloading", 2_000_000, 2_000_000),
            ev(layer, "Verifying Checksum"),
            ev(layer, "Download complete"),
            counts(layer, "Extracting", 32_768, 2_000_000),
            counts(layer, "Extracting", 2_000_000, 2_000_000),
            ev(layer, "Pull complete"),
            ev(other, "Already exists"),
            ev("", "Digest: sha256:abc"),
            ev("", "Status: Downloaded newer image for busybox:latest"),
            TransferProgress {
                result: Some(transfer_progress::Result::Pull(PullResult {
                    reference: "docker.io/library/busybox:latest".into(),
                    ..Default::default()
                })),
                ..ev("", "")
            },
        ]);
        assert_eq!(
            out,
            "latest: Pulling from library/busybox\n\
             a3ed95caeb02: Pulling fs layer\n\
             5b0d2d635df8: Pulling fs layer\n\
             5b0d2d635df8: Waiting\n\
             a3ed95caeb02: Verifying Checksum\n\
             a3ed95caeb02: Download complete\n\
             a3ed95caeb02: Pull complete\n\
             5b0d2d635df8: Already exists\n\
             Digest: sha256:abc\n\
             Status: Downloaded newer image for busybox:latest\n"
        );
    }

    #[test]
    fn a_push_and_repeated_statuses() {
        let out = render(&[
            ev("", "The push refers to repository [127.0.0.1:5000/busybox]"),
            ev("5b0d2d635df8", "Preparing"),
            ev("5b0d2d635df8", "Preparing"),
            counts("5b0d2d635df8", "Pushing", 512, 1024),
            ev("5b0d2d635df8", "Pushed"),
            ev("", "latest: digest: sha256:abc size: 527"),
        ]);
        assert_eq!(
            out,
            "The push refers to repository [127.0.0.1:5000/busybox]\n\
             5b0d2d635df8: Preparing\n\
             5b0d2d635df8: Pushed\n\
             latest: digest: sha256:abc size: 527\n"
        );
    }
}
