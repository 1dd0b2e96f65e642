//! Progress on a terminal, drawn like docker's: one line per layer, kept
//! in the order the layers first appeared and redrawn in place
//! (`a3ed95caeb02: Downloading [=====>     ]  12.35MB/45.6MB 3.1MB/s`);
//! the operation's own lines take their place among them as they come, so
//! "Digest: ..." ends up under the layers it follows.

use std::collections::HashMap;
use std::io;

use berth_proto::v1::TransferProgress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::{has_counts, is_operation_line, line, Renderer, Sink};
use crate::format::human_size_with_precision;
use crate::terminal;

/// docker draws a 50-column bar on terminals wider than 110 columns.
const WIDE_TERMINAL: u32 = 110;
const WIDE_BAR: usize = 50;
/// A narrower bar elsewhere, so a line still fits in 80 columns.
const NARROW_BAR: usize = 20;

pub struct Tty {
    multi: MultiProgress,
    layers: HashMap<String, Layer>,
    bar_width: usize,
}

/// One layer's line and what it shows.
struct Layer {
    bar: ProgressBar,
    status: String,
    /// The line shows a bar (or byte counts) rather than a bare status.
    counting: bool,
    /// The status whose bytes the bar counts.
    phase: String,
}

impl Tty {
    pub fn new(sink: Sink) -> Self {
        let target = match sink {
            Sink::Stdout => ProgressDrawTarget::stdout(),
            Sink::Stderr => ProgressDrawTarget::stderr(),
        };
        let wide = terminal::size().is_some_and(|(cols, _)| cols > WIDE_TERMINAL);
        Tty {
            multi: MultiProgress::with_draw_target(target),
            layers: HashMap::new(),
            bar_width: if wide { WIDE_BAR } else { NARROW_BAR },
        }
    }

    fn layer_event(&mut self, event: &TransferProgress) {
        let multi = &self.multi;
        let layer = self
            .layers
            .entry(event.id.clone())
            .or_insert_with(|| Layer {
                bar: multi.add(
                    ProgressBar::hidden()
                        .with_style(status_style())
                        .with_prefix(event.id.clone()),
                ),
                status: String::new(),
                counting: false,
                phase: String::new(),
            });
        // A plain status replaces the bar before the message changes (a
        // style change alone does not redraw; the message does), and a new
        // bar's message comes first, so no frame mixes the two.
        if !has_counts(event) && layer.counting {
            layer.bar.set_style(status_style());
            layer.counting = false;
        }
        if layer.status != event.status {
            layer.status = event.status.clone();
            layer.bar.set_message(event.status.clone());
        }
        if has_counts(event) {
            if event.total > 0 {
                layer.bar.set_length(event.total);
            } else {
                layer.bar.unset_length();
            }
            if !layer.counting || layer.phase != event.status {
                // A new phase (Downloading, then Extracting): its own bar
                // and its own speed.
                layer.bar.reset();
                layer
                    .bar
                    .set_style(counting_style(event.total > 0, self.bar_width));
                layer.counting = true;
                layer.phase = event.status.clone();
            }
            layer.bar.set_position(event.current);
        }
    }
}

impl Renderer for Tty {
    fn event(&mut self, event: &TransferProgress) -> io::Result<()> {
        if event.status.is_empty() {
            return Ok(());
        }
        if is_operation_line(event) {
            let bar = self
                .multi
                .add(ProgressBar::hidden().with_style(line_style()));
            bar.finish_with_message(line(event));
        } else {
            self.layer_event(event);
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        // Each line stays as it was last drawn (abandon keeps the position,
        // where finish would fill the bar).
        for layer in self.layers.values() {
            layer.bar.abandon();
        }
        Ok(())
    }
}

/// An operation's line: the text alone.
fn line_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A layer between transfers: "id: status".
fn status_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A layer moving bytes: a bar when the total is known, the counts and the
/// speed.
fn counting_style(known_total: bool, bar_width: usize) -> ProgressStyle {
    let template = if known_total {
        format!("{{prefix}}: {{msg}} [{{bar:{bar_width}}}] {{counts}}{{speed}}")
    } else {
        "{prefix}: {msg} {counts}{speed}".to_owned()
    };
    ProgressStyle::with_template(&template)
        .map(|style| {
            style
                .progress_chars("=> ")
                .with_key("counts", counts)
                .with_key("speed", speed)
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// docker's "%8v/%v" of human sizes; the total left out when unknown or
/// exceeded.
fn counts(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let current = human_size_with_precision(state.pos() as f64, 4);
    let _ = match state.len() {
        Some(total) if total >= state.pos() => write!(
            w,
            "{current:>8}/{}",
            human_size_with_precision(total as f64, 4)
        ),
        _ => write!(w, "{current:>8}"),
    };
}

/// " 3.1MB/s" once bytes are moving.
fn speed(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let per_sec = state.per_sec();
    if per_sec.is_finite() && per_sec >= 1.0 && state.pos() > 0 {
        let _ = write!(w, " {}/s", human_size_with_precision(per_sec, 3));
    }
}
