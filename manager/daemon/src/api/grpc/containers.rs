//! Containers service: proto requests into engine calls, engine results
//! and views into responses and streams. The proto's limits become the
//! engine's [`ResourceLimits`] (checked by `Resources::from_limits`);
//! everything else is the engine's.

use std::pin::Pin;

use berth_proto::v1::{
    attach_container_input, attach_container_response::Event as AttachMsg, containers_server,
    exec_input, exec_output, AttachContainerInput, AttachContainerResponse,
    ConsoleSize as PConsoleSize, Container as PContainer, ContainerConfig as PConfig,
    ContainerExit, ContainerLogsRequest, ContainerState as PState, CreateContainerRequest,
    CreateContainerResponse, ExecInput, ExecOutput, ExecStarted as PExecStarted,
    HostConfig as PHostConfig, InspectContainerRequest, InspectContainerResponse,
    KillContainerRequest, KillContainerResponse, ListContainersRequest, ListContainersResponse,
    LogEntry, RemoveContainerRequest, RemoveContainerResponse, RenameContainerRequest,
    RenameContainerResponse, ResizeRequest, ResizeResponse, RestartContainerRequest,
    RestartContainerResponse, StartContainerRequest, StartContainerResponse, StopContainerRequest,
    StopContainerResponse, TopContainerRequest, TopContainerResponse, TopRow, WaitContainerRequest,
    WaitContainerResponse,
};
use futures::{Stream, StreamExt as _};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::namespace;
use berth_engine::container::attach::{AttachEvent, AttachOptions};
use berth_engine::container::create::{
    ConfigRequest, CreateOptions, HostConfigRequest, PortBindingRequest,
};
use berth_engine::container::exec::ExecOptions;
use berth_engine::container::list::ListOptions;
use berth_engine::container::logfile::Entry;
use berth_engine::container::logs::LogsOptions;
use berth_engine::container::record::State;
use berth_engine::container::registry::Exit;
use berth_engine::container::stdio::{ClientInput, ConsoleSize, EventReceiver};
use berth_engine::container::task::EXIT_CODE_METADATA;
use berth_engine::container::wait::WaitCondition;
use berth_engine::container::{
    ContainerSummary, PortSummary, ResourceError, ResourceLimits, Resources,
};
use berth_engine::engine::Engine;
use berth_engine::error::ManagerError;

pub struct Containers {
    engine: Engine,
}

impl Containers {
    pub fn new(engine: Engine) -> Self {
        Containers { engine }
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Errors to statuses; a failed exec also carries its exit code (126 or
/// 127) in the metadata, for the CLI to exit with.
fn status(e: ManagerError) -> Status {
    let code = match &e {
        ManagerError::StartFailed { exit_code, .. } => Some(*exit_code),
        _ => None,
    };
    let mut s = super::status::to_status(e);
    if let Some(c) = code {
        if let Ok(v) = MetadataValue::try_from(c.to_string()) {
            s.metadata_mut().insert(EXIT_CODE_METADATA, v);
        }
    }
    s
}

fn config(c: PConfig) -> ConfigRequest {
    ConfigRequest {
        image: c.image,
        cmd: c.cmd,
        entrypoint: c.entrypoint_set.then_some(c.entrypoint),
        env: c.env,
        working_dir: c.working_dir,
        user: c.user,
        hostname: c.hostname,
        labels: c.labels.into_iter().collect(),
        tty: c.tty,
        open_stdin: c.open_stdin,
        stdin_once: c.stdin_once,
        attach_stdin: c.attach_stdin,
        attach_stdout: c.attach_stdout,
        attach_stderr: c.attach_stderr,
        stop_signal: c.stop_signal,
        stop_timeout: (c.stop_timeout >= 0).then_some(c.stop_timeout),
        exposed_ports: c.exposed_ports,
        domainname: c.domainname,
    }
}

/// The proto's limits, checked against docker's rules and this host.
fn resources(p: &berth_proto::v1::Resources) -> Result<Resources, ResourceError> {
    Resources::from_limits(&ResourceLimits {
        memory: p.memory,
        memory_swap: p.memory_swap,
        nano_cpus: p.nano_cpus,
        cpu_shares: p.cpu_shares,
        cpuset_cpus: p.cpuset_cpus.clone(),
        pids_limit: p.pids_limit,
    })
}

fn host_config(h: PHostConfig) -> Result<HostConfigRequest, Status> {
    let resources = match &h.resources {
        Some(r) => resources(r).map_err(|e| status(e.into()))?,
        None => Resources::default(),
    };
    let log_max_size = u64::try_from(h.log_max_size).map_err(|_| {
        Status::invalid_argument(format!("invalid log max-size {}", h.log_max_size))
    })?;
    let log_max_files = u32::try_from(h.log_max_files).map_err(|_| {
        Status::invalid_argument(format!("invalid log max-file {}", h.log_max_files))
    })?;
    Ok(HostConfigRequest {
        auto_remove: h.auto_remove,
        network_mode: h.network_mode,
        binds: h.binds,
        read_only: h.read_only,
        privileged: h.privileged,
        cap_add: h.cap_add,
        cap_drop: h.cap_drop,
        security_opt: h.security_opt,
        resources,
        init: h.init,
        runtime: h.runtime,
        log_max_size,
        log_max_files,
        port_bindings: h
            .port_bindings
            .into_iter()
            .map(|b| {
                let port = |p: u32, what: &str| {
                    u16::try_from(p)
                        .map_err(|_| Status::invalid_argument(format!("invalid {what} port {p}")))
                };
                Ok(PortBindingRequest {
                    host_ip: b.host_ip,
                    host_port: port(b.host_port, "host")?,
                    container_port: port(b.container_port, "container")?,
                    protocol: if b.protocol.is_empty() {
                        "tcp".into()
                    } else {
                        b.protocol
                    },
                })
            })
            .collect::<Result<_, Status>>()?,
        publish_all_ports: h.publish_all_ports,
        links: h.links,
        dns: h.dns,
        dns_search: h.dns_search,
        dns_options: h.dns_options,
        extra_hosts: h.extra_hosts,
        ipv4_address: h.ipv4_address,
        network_aliases: h.network_aliases,
        mounts: h.mounts,
        tmpfs: h.tmpfs,
        volumes_from: h.volumes_from,
    })
}

fn state(s: &State) -> PState {
    PState {
        status: s.status.as_str().to_string(),
        running: s.running(),
        paused: s.status == berth_engine::container::Status::Paused,
        pid: s.pid as i64,
        exit_code: s.exit_code,
        oom_killed: s.oom_killed,
        error: s.error.clone(),
        started_at: s.started_at_or_zero().to_string(),
        finished_at: s.finished_at_or_zero().to_string(),
    }
}

fn port(p: PortSummary) -> berth_proto::v1::PortMapping {
    berth_proto::v1::PortMapping {
        container_port: p.container_port.into(),
        protocol: p.protocol,
        host_ip: p.host_ip,
        host_port: p.host_port.into(),
    }
}

pub(super) fn container(c: ContainerSummary) -> PContainer {
    PContainer {
        ports: c.ports.into_iter().map(port).collect(),
        networks: c.networks,
        command: c.command,
        state: Some(state(&c.state)),
        id: c.id,
        name: c.name,
        image: c.image,
        image_id: c.image_id,
        created: c.created,
        labels: c.labels.into_iter().collect(),
        size_rw: c.size_rw.unwrap_or(0) as i64,
        size_root_fs: c.size_root_fs.unwrap_or(0) as i64,
    }
}

fn size(s: PConsoleSize) -> ConsoleSize {
    ConsoleSize {
        width: s.width,
        height: s.height,
    }
}

fn console_size(s: Option<PConsoleSize>) -> ConsoleSize {
    s.map(size).unwrap_or_default()
}

fn container_exit(x: Exit) -> ContainerExit {
    ContainerExit {
        exit_code: x.code,
        oom_killed: x.oom_killed,
        error: x.error,
    }
}

/// Feeds a client's messages after its first to the engine, mapped by
/// `map` (messages it maps to nothing are ignored). The channel closes
/// when the client's stream ends or breaks.
fn client_input<M: Send + 'static>(
    mut inbound: Streaming<M>,
    map: fn(M) -> Option<ClientInput>,
) -> mpsc::Receiver<ClientInput> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok(Some(m)) = inbound.message().await {
            if let Some(input) = map(m) {
                if tx.send(input).await.is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// A client's events as a response stream.
fn events_stream<T: Send + 'static>(
    events: EventReceiver,
    map: fn(AttachEvent) -> Result<T, Status>,
) -> impl Stream<Item = Result<T, Status>> + Send + 'static {
    futures::stream::unfold(events, move |mut events| async move {
        let e = events.recv().await?;
        Some((map(e), events))
    })
}

fn exec_options(c: berth_proto::v1::ExecConfig) -> ExecOptions {
    ExecOptions {
        cmd: c.cmd,
        env: c.env,
        user: c.user,
        working_dir: c.working_dir,
        privileged: c.privileged,
        tty: c.tty,
        stdin: c.stdin,
        detach: c.detach,
        console_size: console_size(c.console_size),
        detach_keys: c.detach_keys,
    }
}

fn exec_event(e: AttachEvent) -> Result<exec_output::Event, Status> {
    match e {
        AttachEvent::Output(e) => Ok(exec_output::Event::Output(log_entry(e))),
        AttachEvent::Dropped(n) => Ok(exec_output::Event::Dropped(n)),
        AttachEvent::Exit(x) => Ok(exec_output::Event::Exit(container_exit(x))),
        AttachEvent::Detached => Ok(exec_output::Event::Detached(true)),
        AttachEvent::Error(msg) => Err(Status::unavailable(msg)),
    }
}

fn log_entry(e: Entry) -> LogEntry {
    LogEntry {
        stream: e.stream,
        data: e.data,
        time: e.time,
    }
}

#[tonic::async_trait]
impl containers_server::Containers for Containers {
    async fn create(
        &self,
        req: Request<CreateContainerRequest>,
    ) -> Result<Response<CreateContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let opts = CreateOptions {
            name: r.name,
            config: config(r.config.unwrap_or_default()),
            host_config: host_config(r.host_config.unwrap_or_default())?,
        };
        if opts.config.image.trim().is_empty() {
            return Err(Status::invalid_argument("no image given"));
        }
        let c = self
            .engine
            .containers()
            .create_container(&ns, opts)
            .await
            .map_err(status)?;
        Ok(Response::new(CreateContainerResponse {
            id: c.id,
            warnings: c.warnings,
        }))
    }

    async fn start(
        &self,
        req: Request<StartContainerRequest>,
    ) -> Result<Response<StartContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        self.engine
            .containers()
            .start_container_sized(&ns, &r.id, console_size(r.console_size))
            .await
            .map_err(status)?;
        Ok(Response::new(StartContainerResponse {}))
    }

    async fn stop(
        &self,
        req: Request<StopContainerRequest>,
    ) -> Result<Response<StopContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        self.engine
            .containers()
            .stop_container(&ns, &r.id, r.timeout, &r.signal)
            .await
            .map_err(status)?;
        Ok(Response::new(StopContainerResponse {}))
    }

    async fn restart(
        &self,
        req: Request<RestartContainerRequest>,
    ) -> Result<Response<RestartContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        self.engine
            .containers()
            .restart_container(&ns, &r.id, r.timeout)
            .await
            .map_err(status)?;
        Ok(Response::new(RestartContainerResponse {}))
    }

    async fn kill(
        &self,
        req: Request<KillContainerRequest>,
    ) -> Result<Response<KillContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        self.engine
            .containers()
            .kill_container(&ns, &r.id, &r.signal)
            .await
            .map_err(status)?;
        Ok(Response::new(KillContainerResponse {}))
    }

    async fn remove(
        &self,
        req: Request<RemoveContainerRequest>,
    ) -> Result<Response<RemoveContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        self.engine
            .containers()
            .remove_container_volumes(&ns, &r.id, r.force, r.remove_volumes)
            .await
            .map_err(status)?;
        Ok(Response::new(RemoveContainerResponse {}))
    }

    async fn list(
        &self,
        req: Request<ListContainersRequest>,
    ) -> Result<Response<ListContainersResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let listed = self
            .engine
            .containers()
            .list_containers(
                &ns,
                ListOptions {
                    all: r.all,
                    size: r.size,
                    filters: r.filters,
                },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(ListContainersResponse {
            containers: listed.into_iter().map(container).collect(),
        }))
    }

    async fn inspect(
        &self,
        req: Request<InspectContainerRequest>,
    ) -> Result<Response<InspectContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let v = self
            .engine
            .containers()
            .inspect_container(&ns, &r.id, r.size)
            .await
            .map_err(status)?;
        Ok(Response::new(InspectContainerResponse {
            json: serde_json::to_string_pretty(&v)
                .map_err(|e| Status::internal(format!("encode inspect: {e}")))?,
        }))
    }

    type WaitStream = BoxStream<WaitContainerResponse>;

    async fn wait(
        &self,
        req: Request<WaitContainerRequest>,
    ) -> Result<Response<Self::WaitStream>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let cond = WaitCondition::parse(&r.condition).map_err(status)?;
        let waiter = self
            .engine
            .containers()
            .wait_container(&ns, &r.id, cond)
            .await
            .map_err(status)?;
        let (tx, rx) = mpsc::channel(2);
        tokio::spawn(async move {
            let registered = WaitContainerResponse {
                registered: true,
                ..Default::default()
            };
            if tx.send(Ok(registered)).await.is_err() {
                return;
            }
            let exit = tokio::select! {
                e = waiter.wait() => match e {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = tx.send(Err(status(e))).await;
                        return;
                    }
                },
                _ = tx.closed() => return,
            };
            let _ = tx
                .send(Ok(WaitContainerResponse {
                    registered: false,
                    exit_code: exit.code,
                    error: exit.error,
                }))
                .await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type LogsStream = BoxStream<LogEntry>;

    async fn logs(
        &self,
        req: Request<ContainerLogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let opts = LogsOptions {
            follow: r.follow,
            tail: r.tail,
            since: r.since,
            until: r.until,
            stdout: r.stdout,
            stderr: r.stderr,
        };
        let entries = self
            .engine
            .containers()
            .container_logs(&ns, &r.id, opts)
            .await
            .map_err(status)?;
        let stream = tokio_stream::StreamExt::map(ReceiverStream::new(entries), |e| {
            e.map(log_entry).map_err(status)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    type AttachStream = BoxStream<AttachContainerResponse>;

    async fn attach(
        &self,
        req: Request<Streaming<AttachContainerInput>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let ns = namespace(&req)?;
        let mut inbound = req.into_inner();
        let open = match inbound.message().await? {
            Some(AttachContainerInput {
                msg: Some(attach_container_input::Msg::Open(open)),
            }) => open,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message of an attach must be `open`",
                ))
            }
        };
        let input = client_input(inbound, |m: AttachContainerInput| match m.msg? {
            attach_container_input::Msg::Stdin(b) => Some(ClientInput::Stdin(b)),
            attach_container_input::Msg::CloseStdin(_) => Some(ClientInput::CloseStdin),
            attach_container_input::Msg::Resize(s) => Some(ClientInput::Resize(size(s))),
            attach_container_input::Msg::Open(_) => None,
        });
        let opts = AttachOptions {
            stdin: open.stdin,
            stdout: open.stdout,
            stderr: open.stderr,
            detach_keys: open.detach_keys,
        };
        let events = self
            .engine
            .containers()
            .attach_stdio(&ns, &open.id, opts, input)
            .await
            .map_err(status)?;
        let registered = futures::stream::once(async {
            Ok(AttachContainerResponse {
                event: Some(AttachMsg::Registered(true)),
            })
        });
        let rest = events_stream(events, |e| match e {
            AttachEvent::Output(e) => Ok(AttachMsg::Output(log_entry(e))),
            AttachEvent::Dropped(n) => Ok(AttachMsg::Dropped(n)),
            AttachEvent::Exit(x) => Ok(AttachMsg::Exit(container_exit(x))),
            AttachEvent::Detached => Ok(AttachMsg::Detached(true)),
            AttachEvent::Error(msg) => Err(Status::unavailable(msg)),
        })
        .map(|r| r.map(|event| AttachContainerResponse { event: Some(event) }));
        Ok(Response::new(Box::pin(futures::StreamExt::chain(
            registered, rest,
        ))))
    }

    type ExecStream = BoxStream<ExecOutput>;

    async fn exec(
        &self,
        req: Request<Streaming<ExecInput>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        let ns = namespace(&req)?;
        let mut inbound = req.into_inner();
        let c = match inbound.message().await? {
            Some(ExecInput {
                msg: Some(exec_input::Msg::Config(c)),
            }) => c,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message of an exec must be `config`",
                ))
            }
        };
        let input = client_input(inbound, |m: ExecInput| match m.msg? {
            exec_input::Msg::Stdin(b) => Some(ClientInput::Stdin(b)),
            exec_input::Msg::CloseStdin(_) => Some(ClientInput::CloseStdin),
            exec_input::Msg::Resize(s) => Some(ClientInput::Resize(size(s))),
            exec_input::Msg::Config(_) => None,
        });
        let id = c.id.clone();
        let started = self
            .engine
            .containers()
            .exec_container(&ns, &id, exec_options(c), input)
            .await
            .map_err(status)?;
        let first = futures::stream::once(async move {
            Ok(ExecOutput {
                event: Some(exec_output::Event::Started(PExecStarted {
                    exec_id: started.exec_id,
                    pid: started.pid,
                })),
            })
        });
        let Some(events) = started.events else {
            return Ok(Response::new(Box::pin(first)));
        };
        let rest = events_stream(events, exec_event)
            .map(|r| r.map(|event| ExecOutput { event: Some(event) }));
        Ok(Response::new(Box::pin(futures::StreamExt::chain(
            first, rest,
        ))))
    }

    async fn resize(
        &self,
        req: Request<ResizeRequest>,
    ) -> Result<Response<ResizeResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let size = ConsoleSize {
            width: r.width,
            height: r.height,
        };
        self.engine
            .containers()
            .resize_container(&ns, &r.id, &r.exec_id, size)
            .await
            .map_err(status)?;
        Ok(Response::new(ResizeResponse {}))
    }

    async fn top(
        &self,
        req: Request<TopContainerRequest>,
    ) -> Result<Response<TopContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let t = self
            .engine
            .containers()
            .top_container(&ns, &r.id, &r.ps_args)
            .await
            .map_err(status)?;
        Ok(Response::new(TopContainerResponse {
            titles: t.titles,
            processes: t
                .processes
                .into_iter()
                .map(|fields| TopRow { fields })
                .collect(),
        }))
    }

    async fn rename(
        &self,
        req: Request<RenameContainerRequest>,
    ) -> Result<Response<RenameContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        self.engine
            .containers()
            .rename_container(&ns, &r.id, &r.new_name)
            .await
            .map_err(status)?;
        Ok(Response::new(RenameContainerResponse {}))
    }

    async fn stat_path(
        &self,
        req: Request<berth_proto::v1::StatPathRequest>,
    ) -> Result<Response<berth_proto::v1::PathStat>, Status> {
        super::cp::stat_path(&self.engine, req).await
    }

    type CopyFromStream = super::cp::CopyFromStream;

    async fn copy_from(
        &self,
        req: Request<berth_proto::v1::CopyFromRequest>,
    ) -> Result<Response<Self::CopyFromStream>, Status> {
        super::cp::copy_from(&self.engine, req).await
    }

    async fn copy_to(
        &self,
        req: Request<Streaming<berth_proto::v1::CopyToInput>>,
    ) -> Result<Response<berth_proto::v1::CopyToResponse>, Status> {
        super::cp::copy_to(&self.engine, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_carry_the_exit_code() {
        let s = status(ManagerError::StartFailed {
            message: "exec: \"nosuch\": executable file not found in $PATH".into(),
            exit_code: 127,
        });
        assert_eq!(s.code(), tonic::Code::FailedPrecondition);
        assert_eq!(
            s.metadata()
                .get(EXIT_CODE_METADATA)
                .unwrap()
                .to_str()
                .unwrap(),
            "127"
        );
        assert!(s.message().contains("executable file not found"));
    }

    #[test]
    fn proto_config() {
        let c = config(PConfig {
            image: "busybox".into(),
            entrypoint_set: true,
            stop_timeout: -1,
            ..Default::default()
        });
        assert_eq!(c.entrypoint, Some(vec![]));
        assert_eq!(c.stop_timeout, None);
        let c = config(PConfig {
            stop_timeout: 0,
            ..Default::default()
        });
        assert_eq!((c.entrypoint, c.stop_timeout), (None, Some(0)));
        let h = host_config(PHostConfig {
            resources: Some(berth_proto::v1::Resources {
                memory: 1,
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(h.code(), tonic::Code::InvalidArgument);
        assert_eq!(h.message(), "Minimum memory limit allowed is 6MB");
        assert!(host_config(PHostConfig {
            log_max_size: -1,
            ..Default::default()
        })
        .is_err());
    }
}
