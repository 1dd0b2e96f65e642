//! How `ps` shows a container, by docker's rules: "Up 3 seconds",
//! "Exited (0) 2 minutes ago", the command quoted and cut to 20
//! characters, the image without its digest, "0B (virtual 4.3MB)".

use berth_proto::v1::ContainerState;
use chrono::{DateTime, Datelike, Utc};

use crate::format::{ellipsis, go_quote, human_duration, human_size, parse_time, short_id};

/// COMMAND is cut to this many characters unless --no-trunc.
const COMMAND_WIDTH: usize = 20;

/// A time berthd sent, or None for "never" ("0001-01-01T00:00:00Z") and
/// anything unreadable.
fn time_of(s: &str) -> Option<DateTime<Utc>> {
    parse_time(s).filter(|t| t.year() > 1)
}

fn ago(s: &str, now: DateTime<Utc>) -> Option<String> {
    time_of(s).map(|t| format!("{} ago", human_duration(now - t)))
}

/// docker's `State.String()`.
pub fn status_text(state: Option<&ContainerState>, now: DateTime<Utc>) -> String {
    let Some(state) = state else {
        return "Created".to_owned();
    };
    let up = || {
        time_of(&state.started_at)
            .map(|t| format!("Up {}", human_duration(now - t)))
            .unwrap_or_else(|| "Up".to_owned())
    };
    match state.status.as_str() {
        "paused" => format!("{} (Paused)", up()),
        "running" if state.paused => format!("{} (Paused)", up()),
        "running" => up(),
        "restarting" => match ago(&state.finished_at, now) {
            Some(ago) => format!("Restarting ({}) {ago}", state.exit_code),
            None => format!("Restarting ({})", state.exit_code),
        },
        "removing" => "Removal In Progress".to_owned(),
        "dead" => "Dead".to_owned(),
        "created" => "Created".to_owned(),
        "exited" => match ago(&state.finished_at, now) {
            Some(ago) => format!("Exited ({}) {ago}", state.exit_code),
            None => format!("Exited ({})", state.exit_code),
        },
        _ if state.running => up(),
        _ => "Created".to_owned(),
    }
}

/// docker's COMMAND: the command line, cut unless `no_trunc`, quoted.
pub fn command_text(command: &[String], trunc: bool) -> String {
    let line = command.join(" ");
    if trunc {
        go_quote(&ellipsis(&line, COMMAND_WIDTH))
    } else {
        go_quote(&line)
    }
}

/// docker's IMAGE: as the user named it; when truncating, an image named
/// by its id shows the short id and a digest reference loses its digest.
pub fn image_text(image: &str, image_id: &str, trunc: bool) -> String {
    if image.is_empty() {
        return "<no image>".to_owned();
    }
    if !trunc {
        return image.to_owned();
    }
    let short = short_id(image_id);
    if !short.is_empty() && short == short_id(image) {
        return short;
    }
    match image.split_once('@') {
        Some((name, _digest)) => name.to_owned(),
        None => image.to_owned(),
    }
}

/// docker's SIZE: the writable layer, plus the image's when known.
pub fn size_text(size_rw: i64, size_root_fs: i64) -> String {
    let rw = human_size(size_rw);
    if size_root_fs > 0 {
        format!("{rw} (virtual {})", human_size(size_root_fs))
    } else {
        rw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_time("2024-05-01T12:00:00Z").unwrap()
    }

    fn state(status: &str, started: &str, finished: &str, code: i32) -> ContainerState {
        ContainerState {
            status: status.into(),
            running: status == "running",
            exit_code: code,
            started_at: started.into(),
            finished_at: finished.into(),
            ..Default::default()
        }
    }

    const NEVER: &str = "0001-01-01T00:00:00Z";

    #[test]
    fn statuses_like_docker() {
        let s = |st: ContainerState| status_text(Some(&st), now());
        assert_eq!(
            s(state("running", "2024-05-01T11:59:57Z", NEVER, 0)),
            "Up 3 seconds"
        );
        assert_eq!(
            s(state("running", "2024-05-01T11:59:59.6Z", NEVER, 0)),
            "Up Less than a second"
        );
        assert_eq!(
            s(state("running", "2024-05-01T10:00:00Z", NEVER, 0)),
            "Up 2 hours"
        );
        assert_eq!(
            s(state(
                "exited",
                "2024-05-01T11:00:00Z",
                "2024-05-01T11:58:00Z",
                0
            )),
            "Exited (0) 2 minutes ago"
        );
        assert_eq!(
            s(state(
                "exited",
                "2024-05-01T11:00:00Z",
                "2024-05-01T11:59:59Z",
                137
            )),
            "Exited (137) 1 second ago"
        );
        assert_eq!(s(state("exited", NEVER, NEVER, 127)), "Exited (127)");
        assert_eq!(s(state("created", NEVER, NEVER, 0)), "Created");
        let mut paused = state("running", "2024-05-01T11:00:00Z", NEVER, 0);
        paused.paused = true;
        assert_eq!(s(paused), "Up About an hour (Paused)");
        assert_eq!(s(state("dead", NEVER, NEVER, 0)), "Dead");
        assert_eq!(s(state("removing", NEVER, NEVER, 0)), "Removal In Progress");
        assert_eq!(
            s(state("restarting", NEVER, "2024-05-01T11:59:00Z", 1)),
            "Restarting (1) About a minute ago"
        );
        assert_eq!(status_text(None, now()), "Created");
    }

    #[test]
    fn commands_quoted_and_cut() {
        let cmd = |parts: &[&str]| parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            command_text(&cmd(&["sleep", "1000"]), true),
            "\"sleep 1000\""
        );
        assert_eq!(
            command_text(&cmd(&["sh", "-c", "echo \"hello\"; sleep 1000"]), true),
            r#""sh -c echo \"hello\";…""#
        );
        assert_eq!(
            command_text(&cmd(&["/docker-entrypoint.sh", "nginx", "-g"]), true),
            "\"/docker-entrypoint.…\""
        );
        assert_eq!(
            command_text(&cmd(&["/docker-entrypoint.sh", "nginx", "-g"]), false),
            "\"/docker-entrypoint.sh nginx -g\""
        );
        assert_eq!(command_text(&[], true), "\"\"");
    }

    #[test]
    fn images() {
        let id = "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824";
        assert_eq!(image_text("busybox", id, true), "busybox");
        assert_eq!(image_text("busybox:1.36", id, true), "busybox:1.36");
        assert_eq!(image_text("a416a98b71e2", id, true), "a416a98b71e2");
        assert_eq!(image_text(id, id, true), "a416a98b71e2");
        assert_eq!(image_text(id, id, false), id);
        assert_eq!(image_text("busybox@sha256:feedfeed", id, true), "busybox");
        assert_eq!(image_text("", id, true), "<no image>");
    }

    #[test]
    fn sizes() {
        assert_eq!(size_text(0, 4_261_274), "0B (virtual 4.26MB)");
        assert_eq!(size_text(1234, 0), "1.23kB");
    }
}
