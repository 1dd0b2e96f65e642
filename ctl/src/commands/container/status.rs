//! How `ps` shows a container, by docker's rules: "Up 3 seconds",
//! "Exited (0) 2 minutes ago", the command quoted and cut to 20
//! characters, the image without its digest, "0B (virtual 4.3MB)",
//! "0.0.0.0:8080->80/tcp, 53/udp".

use berth_proto::v1::{ContainerState, PortMapping};
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

/// Where a port is published, or `None` when it is only exposed.
fn published_ip(port: &PortMapping) -> Option<&str> {
    match (port.host_ip.as_str(), port.host_port) {
        ("", 0) => None,
        ("", _) => Some("0.0.0.0"),
        (ip, _) => Some(ip),
    }
}

/// Go's `net.JoinHostPort`: an IPv6 host in brackets.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// docker's PORTS (`DisplayablePorts`): sorted by container port, then
/// host address and port; runs of consecutive ports exposed, or published
/// on the same number, collapse into ranges ("8000-8001/tcp",
/// "0.0.0.0:80-81->80-81/tcp"); ports published on another number come
/// last, one by one ("0.0.0.0:8080->80/tcp").
pub fn ports_text(ports: &[PortMapping]) -> String {
    let mut ports: Vec<&PortMapping> = ports.iter().collect();
    ports.sort_by(|a, b| {
        (a.container_port, published_ip(a), a.host_port, &a.protocol).cmp(&(
            b.container_port,
            published_ip(b),
            b.host_port,
            &b.protocol,
        ))
    });
    // (key, first, last) per group, in the order the keys appeared.
    let mut groups: Vec<(String, u32, u32)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for port in ports {
        let current = port.container_port;
        let key = match published_ip(port) {
            Some(ip) if port.host_port != current => {
                host_mappings.push(format!(
                    "{}->{current}/{}",
                    join_host_port(ip, &port.host_port.to_string()),
                    port.protocol
                ));
                continue;
            }
            Some(ip) => format!("{ip}/{}", port.protocol),
            None => port.protocol.clone(),
        };
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, current, current)),
            Some(group) if current == group.2 + 1 => group.2 = current,
            Some(group) => {
                result.push(form_group(&group.0, group.1, group.2));
                (group.1, group.2) = (current, current);
            }
        }
    }
    result.extend(
        groups
            .iter()
            .map(|(key, first, last)| form_group(key, *first, *last)),
    );
    result.extend(host_mappings);
    result.join(", ")
}

/// docker's `formGroup`: "80-81/tcp" or "IP:80-81->80-81/tcp".
fn form_group(key: &str, first: u32, last: u32) -> String {
    let (ip, proto) = key.rsplit_once('/').unwrap_or(("", key));
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{ip}:{group}->{group}");
    }
    format!("{group}/{proto}")
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

    fn port(container: u32, proto: &str, ip: &str, host: u32) -> PortMapping {
        PortMapping {
            container_port: container,
            protocol: proto.into(),
            host_ip: ip.into(),
            host_port: host,
        }
    }

    #[test]
    fn ports_like_docker() {
        assert_eq!(ports_text(&[]), "");
        assert_eq!(
            ports_text(&[port(80, "tcp", "0.0.0.0", 8080), port(53, "udp", "", 0)]),
            "53/udp, 0.0.0.0:8080->80/tcp"
        );
        assert_eq!(
            ports_text(&[
                port(80, "tcp", "0.0.0.0", 80),
                port(81, "tcp", "0.0.0.0", 81)
            ]),
            "0.0.0.0:80-81->80-81/tcp"
        );
        assert_eq!(
            ports_text(&[
                port(8001, "tcp", "", 0),
                port(8000, "tcp", "", 0),
                port(8003, "tcp", "", 0),
                port(8000, "udp", "", 0),
            ]),
            "8000-8001/tcp, 8003/tcp, 8000/udp"
        );
        assert_eq!(
            ports_text(&[
                port(80, "tcp", "127.0.0.1", 32768),
                port(80, "tcp", "0.0.0.0", 8080),
                port(443, "tcp", "", 0),
            ]),
            "443/tcp, 0.0.0.0:8080->80/tcp, 127.0.0.1:32768->80/tcp"
        );
        // A published port without an address listens on every one.
        assert_eq!(
            ports_text(&[port(80, "tcp", "", 8080)]),
            "0.0.0.0:8080->80/tcp"
        );
        assert_eq!(join_host_port("::1", "80"), "[::1]:80");
    }

    #[test]
    fn sizes() {
        assert_eq!(size_text(0, 4_261_274), "0B (virtual 4.26MB)");
        assert_eq!(size_text(1234, 0), "1.23kB");
    }
}
