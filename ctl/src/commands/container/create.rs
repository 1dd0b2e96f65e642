//! `berth create`, and what `run` and `create` share: docker's flags turned
//! into a CreateContainerRequest, and the pull of a missing image
//! (`--pull`).

use std::io::Write;

use berth_proto::v1::{ContainerConfig, CreateContainerRequest, HostConfig, PullImageRequest};
use tonic::{Code, Status};

use super::super::pull::pull_image;
use super::super::{print, Ctx};
use crate::cli::{ContainerOptions, CreateArgs, PullPolicy};
use crate::client::Client;
use crate::error::{CliError, DAEMON_PREFIX};
use crate::flags::env::{build_env, build_labels, Lookup};
use crate::flags::network::{dns, dns_search, extra_hosts, ipv4, links, ports};
use crate::flags::options::{log_opts, security_opts};
use crate::flags::resources::{to_proto, ResourceFlags};
use crate::progress::Sink;
use crate::registry;

/// The stop timeout the API reads as "not given" (berthd then uses 10 s).
const STOP_TIMEOUT_UNSET: i32 = -1;

pub async fn create(ctx: &Ctx, args: &CreateArgs) -> Result<(), CliError> {
    // Flags are checked before anything is asked of berthd.
    let request = build_request(&args.options, &crate::flags::env::process_env)?;
    let client = ctx.connect().await?;
    let id = create_pulling(&client, request, args.options.pull).await?;
    print(&format!("{id}\n"))
}

/// Creates the container, pulling its image as `--pull` says: first with
/// "always"; with "missing" (the default) when berthd has no such image,
/// after docker's "Unable to find image 'busybox:latest' locally". The
/// progress goes to stderr: stdout is for the id or the container.
pub async fn create_pulling(
    client: &Client,
    request: CreateContainerRequest,
    policy: PullPolicy,
) -> Result<String, CliError> {
    let image = request
        .config
        .as_ref()
        .map(|c| c.image.clone())
        .unwrap_or_default();
    match policy {
        PullPolicy::Never => {}
        PullPolicy::Always => pull_for_create(client, &image).await?,
        PullPolicy::Missing => match create_container(client, request.clone()).await {
            Err(CliError::Status(status)) if is_missing_image(&status, &image) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "Unable to find image '{}' locally",
                    registry::familiar(&image)
                );
                pull_for_create(client, &image).await?;
            }
            done => return done,
        },
    }
    create_container(client, request).await
}

/// berthd's answer when the image is not there (its NoSuchImage), for an
/// image given by name: an image ID cannot be pulled.
fn is_missing_image(status: &Status, image: &str) -> bool {
    status.code() == Code::NotFound
        && status.message().starts_with("No such image")
        && !image.starts_with("sha256:")
}

/// The pull of `run`/`create`: a refusal is printed as docker prints it,
/// and the command then fails with its own exit code (125).
async fn pull_for_create(client: &Client, image: &str) -> Result<(), CliError> {
    let request = PullImageRequest {
        reference: image.to_owned(),
        ..Default::default()
    };
    match pull_image(client, request, Sink::Stderr, false).await {
        Ok(_) => Ok(()),
        Err(err @ CliError::Daemon(_)) => {
            let _ = writeln!(std::io::stderr(), "{DAEMON_PREFIX}{err}");
            Err(CliError::Reported)
        }
        Err(err) => Err(err),
    }
}

/// Creates the container, printing berthd's warnings as docker does;
/// returns its full id.
pub async fn create_container(
    client: &Client,
    request: CreateContainerRequest,
) -> Result<String, CliError> {
    let response = client.containers().create(request).await?.into_inner();
    if !response.warnings.is_empty() {
        let mut err = std::io::stderr().lock();
        for warning in &response.warnings {
            let _ = writeln!(err, "WARNING: {warning}");
        }
    }
    Ok(response.id)
}

/// The API request for `run`/`create` flags; `lookup` reads the CLI's
/// environment for `-e KEY` and bare keys in env files.
pub fn build_request(
    o: &ContainerOptions,
    lookup: Lookup<'_>,
) -> Result<CreateContainerRequest, CliError> {
    let resources = to_proto(&ResourceFlags {
        memory: o.memory.as_deref(),
        memory_swap: o.memory_swap.as_deref(),
        cpus: o.cpus.as_deref(),
        cpu_shares: o.cpu_shares.as_deref(),
        cpuset_cpus: o.cpuset_cpus.as_deref(),
        pids_limit: o.pids_limit.as_deref(),
    })?;
    let ports = ports(&o.publish, &o.expose)?;
    let ipv4_address =
        o.ip.as_deref()
            .map(|ip| ipv4("--ip", ip))
            .transpose()?
            .unwrap_or_default();
    // --entrypoint "" clears the image's entrypoint; docker's CLI treats
    // the string as one word.
    let entrypoint: Vec<String> = match o.entrypoint.as_deref() {
        Some("") | None => Vec::new(),
        Some(e) => vec![e.to_owned()],
    };
    let config = ContainerConfig {
        image: o.image().to_owned(),
        cmd: o.command().to_vec(),
        entrypoint,
        entrypoint_set: o.entrypoint.is_some(),
        env: build_env(&o.env, &o.env_file, lookup)?,
        working_dir: o.workdir.clone().unwrap_or_default(),
        user: o.user.clone().unwrap_or_default(),
        hostname: o.hostname.clone().unwrap_or_default(),
        labels: build_labels(&o.label, &o.label_file)?,
        tty: o.tty,
        open_stdin: o.interactive,
        // docker create attaches everything (stdin with -i); `run` adjusts
        // these for its own client.
        stdin_once: o.interactive,
        attach_stdin: o.interactive,
        attach_stdout: true,
        attach_stderr: true,
        stop_signal: o.stop_signal.clone().unwrap_or_default(),
        stop_timeout: o.stop_timeout.unwrap_or(STOP_TIMEOUT_UNSET),
        exposed_ports: ports.exposed,
        domainname: o.domainname.clone().unwrap_or_default(),
    };
    let host_config = host_config(o, resources, ports.bindings, ipv4_address)?;
    Ok(CreateContainerRequest {
        name: o.name.clone().unwrap_or_default(),
        config: Some(config),
        host_config: Some(host_config),
    })
}

/// The HostConfig of the flags; `resources`, `port_bindings` and the
/// `--ip` address come parsed.
fn host_config(
    o: &ContainerOptions,
    resources: berth_proto::v1::Resources,
    port_bindings: Vec<berth_proto::v1::PortBinding>,
    ipv4_address: String,
) -> Result<HostConfig, CliError> {
    let logs = log_opts(&o.log_opt)?;
    Ok(HostConfig {
        auto_remove: o.rm,
        network_mode: o.network.clone().unwrap_or_default(),
        // berthd parses the mount flags (docker's daemon does too) and
        // answers with docker's messages.
        binds: o.volume.clone(),
        read_only: o.read_only,
        privileged: o.privileged,
        cap_add: o.cap_add.clone(),
        cap_drop: o.cap_drop.clone(),
        security_opt: security_opts(&o.security_opt)?,
        resources: Some(resources),
        init: o.init,
        runtime: o.runtime.clone().unwrap_or_default(),
        log_max_size: logs.max_size,
        log_max_files: logs.max_files,
        port_bindings,
        publish_all_ports: o.publish_all,
        links: links(&o.link)?,
        dns: dns(&o.dns)?,
        dns_search: dns_search(&o.dns_search)?,
        dns_options: o.dns_option.clone(),
        extra_hosts: extra_hosts(&o.add_host)?,
        ipv4_address,
        network_aliases: o.network_alias.clone(),
        mounts: o.mount.clone(),
        tmpfs: o.tmpfs.clone(),
        volumes_from: o.volumes_from.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn options(args: &[&str]) -> ContainerOptions {
        let mut argv = vec!["berth", "create"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Create(c),
                ..
            }) => c.options,
            Ok(other) => panic!("{other:?}"),
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    fn lookup(name: &str) -> Option<String> {
        (name == "FROM_CLI").then(|| "cli-value".to_owned())
    }

    fn request(args: &[&str]) -> CreateContainerRequest {
        build_request(&options(args), &lookup).unwrap()
    }

    #[test]
    fn defaults() {
        let r = request(&["busybox"]);
        assert_eq!(r.name, "");
        let c = r.config.unwrap();
        assert_eq!(c.image, "busybox");
        assert!(c.cmd.is_empty() && c.env.is_empty() && !c.entrypoint_set);
        assert_eq!(c.stop_timeout, -1);
        let h = r.host_config.unwrap();
        assert_eq!(h.network_mode, "");
        assert!(!h.auto_remove);
        assert_eq!(h.resources.unwrap(), Default::default());
    }

    #[test]
    fn everything() {
        let r = request(&[
            "--name",
            "web",
            "--rm",
            "-e",
            "A=1",
            "-e",
            "FROM_CLI",
            "-e",
            "UNSET",
            "-w",
            "/w",
            "-u",
            "1:2",
            "-h",
            "host",
            "--init",
            "-l",
            "k=v",
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "0.5",
            "-c",
            "512",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "10",
            "--privileged",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--read-only",
            "--net",
            "none",
            "-v",
            "/a:/b:ro",
            "-v",
            "data:/d",
            "--mount",
            "type=tmpfs,target=/t",
            "--tmpfs",
            "/run:size=1m",
            "--volumes-from",
            "db:ro",
            "--runtime",
            "runc",
            "--stop-signal",
            "SIGUSR1",
            "--stop-timeout",
            "3",
            "--log-opt",
            "max-size=10m",
            "--log-opt",
            "max-file=3",
            "-t",
            "-i",
            "busybox",
            "sh",
            "-c",
            "echo hi",
        ]);
        assert_eq!(r.name, "web");
        let c = r.config.unwrap();
        assert_eq!(c.cmd, ["sh", "-c", "echo hi"]);
        assert_eq!(c.env, ["A=1", "FROM_CLI=cli-value"]);
        assert_eq!(
            (c.working_dir.as_str(), c.user.as_str(), c.hostname.as_str()),
            ("/w", "1:2", "host")
        );
        assert_eq!(c.labels["k"], "v");
        assert!(c.tty && c.open_stdin);
        assert_eq!((c.stop_signal.as_str(), c.stop_timeout), ("SIGUSR1", 3));
        let h = r.host_config.unwrap();
        assert!(h.auto_remove && h.init && h.privileged && h.read_only);
        assert_eq!(h.network_mode, "none");
        assert_eq!(h.binds, ["/a:/b:ro", "data:/d"]);
        assert_eq!(h.mounts, ["type=tmpfs,target=/t"]);
        assert_eq!(h.tmpfs, ["/run:size=1m"]);
        assert_eq!(h.volumes_from, ["db:ro"]);
        assert_eq!(
            (h.cap_add, h.cap_drop),
            (vec!["NET_ADMIN".into()], vec!["ALL".into()])
        );
        assert_eq!(h.security_opt, ["no-new-privileges"]);
        assert_eq!(h.runtime, "runc");
        assert_eq!((h.log_max_size, h.log_max_files), (10 << 20, 3));
        let res = h.resources.unwrap();
        assert_eq!(res.memory, 64 << 20);
        assert_eq!(res.memory_swap, -1);
        assert_eq!(res.nano_cpus, 500_000_000);
        assert_eq!(res.cpu_shares, 512);
        assert_eq!(res.cpuset_cpus, "0");
        assert_eq!(res.pids_limit, 10);
    }

    #[test]
    fn network_flags() {
        use berth_proto::v1::PortBinding;
        let r = request(&[
            "--network",
            "appnet",
            "--network-alias",
            "web",
            "--net-alias",
            "www",
            "--ip",
            "10.78.0.9",
            "-p",
            "127.0.0.1:8080:80",
            "--publish",
            "53/udp",
            "-P",
            "--expose",
            "443",
            "--expose",
            "7000-7001/udp",
            "--link",
            "db:database",
            "--dns",
            "9.9.9.9",
            "--dns-search",
            "example.com.",
            "--dns-option",
            "ndots:2",
            "--dns-opt",
            "timeout:1",
            "--add-host",
            "gw=host-gateway",
            "--domainname",
            "example.org",
            "busybox",
        ]);
        let c = r.config.unwrap();
        assert_eq!(
            c.exposed_ports,
            ["80/tcp", "53/udp", "443/tcp", "7000/udp", "7001/udp"]
        );
        assert_eq!(c.domainname, "example.org");
        let h = r.host_config.unwrap();
        assert_eq!(h.network_mode, "appnet");
        assert_eq!(h.network_aliases, ["web", "www"]);
        assert_eq!(h.ipv4_address, "10.78.0.9");
        assert_eq!(
            h.port_bindings,
            [
                PortBinding {
                    host_ip: "127.0.0.1".into(),
                    host_port: 8080,
                    container_port: 80,
                    protocol: "tcp".into()
                },
                PortBinding {
                    host_ip: String::new(),
                    host_port: 0,
                    container_port: 53,
                    protocol: "udp".into()
                }
            ]
        );
        assert!(h.publish_all_ports);
        assert_eq!(h.links, ["db:database"]);
        assert_eq!(h.dns, ["9.9.9.9"]);
        assert_eq!(h.dns_search, ["example.com"]);
        assert_eq!(h.dns_options, ["ndots:2", "timeout:1"]);
        assert_eq!(h.extra_hosts, ["gw:host-gateway"]);

        let h = request(&["busybox"]).host_config.unwrap();
        assert!(h.port_bindings.is_empty() && !h.publish_all_ports);
        assert_eq!(h.ipv4_address, "");
    }

    #[test]
    fn bad_network_values_are_refused_before_the_request() {
        for (args, want) in [
            (&["-p", "abc", "busybox"][..], "invalid containerPort: abc"),
            (
                &["-p", "[::1]:80:80", "busybox"],
                "IPv6 host addresses are not supported",
            ),
            (
                &["--expose", "1:2", "busybox"],
                "invalid port format for --expose: 1:2",
            ),
            (
                &["--link", "a:b:c", "busybox"],
                "invalid argument \"a:b:c\" for \"--link\" flag",
            ),
            (
                &["--dns", "x", "busybox"],
                "IP address is not correctly formatted: x",
            ),
            (
                &["--add-host", "h", "busybox"],
                "bad format for add-host: \"h\"",
            ),
            (&["--ip", "1.2.3", "busybox"], "failed to parse IP"),
            (&["--dns-search=-x", "busybox"], "-x is not a valid domain"),
        ] {
            let err = build_request(&options(args), &lookup)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }

    #[test]
    fn command_flags_belong_to_the_command() {
        let c = request(&["busybox", "ls", "-l", "--rm"]).config.unwrap();
        assert_eq!(c.cmd, ["ls", "-l", "--rm"]);
        let r = request(&["busybox", "--rm"]);
        assert_eq!(r.config.unwrap().cmd, ["--rm"]);
        assert!(!r.host_config.unwrap().auto_remove);
    }

    #[test]
    fn entrypoint() {
        let c = request(&["--entrypoint", "echo", "busybox", "a"])
            .config
            .unwrap();
        assert_eq!(
            (c.entrypoint, c.entrypoint_set),
            (vec!["echo".into()], true)
        );
        let c = request(&["--entrypoint", "", "busybox"]).config.unwrap();
        assert_eq!((c.entrypoint.len(), c.entrypoint_set), (0, true));
    }

    #[test]
    fn only_a_missing_named_image_is_pulled() {
        let missing = Status::not_found("No such image: busybox");
        assert!(is_missing_image(&missing, "busybox"));
        assert!(!is_missing_image(&missing, "sha256:0123"));
        assert!(!is_missing_image(
            &Status::not_found("No such container: x"),
            "busybox"
        ));
        assert!(!is_missing_image(
            &Status::invalid_argument("No such image: busybox"),
            "busybox"
        ));
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, want) in [
            (
                &["-m", "12x", "busybox"][..],
                r#"invalid argument "12x" for "-m, --memory" flag: invalid size: '12x'"#,
            ),
            (
                &["--cpus", "abc", "busybox"],
                r#"invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number"#,
            ),
            (
                &["-m", "1k", "busybox"],
                "Minimum memory limit allowed is 6MB",
            ),
            (
                &["--security-opt", "seccomp=/nonexistent.json", "busybox"],
                "opening seccomp profile (/nonexistent.json) failed: ",
            ),
        ] {
            let err = build_request(&options(args), &lookup)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(want), "{args:?}: {err}");
        }
    }
}
