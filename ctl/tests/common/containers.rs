//! The fake Containers service. It "runs" a container by reading its
//! command as a script (see containers.rs of the tests): `out:TEXT` /
//! `err:TEXT` are lines on stdout / stderr, `exit:N` ends it with code N;
//! a Kill ends it with 128+N; `nosuchcmd` and `/etc/passwd` fail to start
//! with 127 and 126. Containers named `nope` are not there.

use std::pin::Pin;

use berth_proto::v1::attach_container_response::Event;
use berth_proto::v1::containers_server::Containers;
use berth_proto::v1::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::fake::{namespace, Fake};

pub const CONTAINER_ID: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

fn no_such(id: &str) -> Result<(), Status> {
    match id {
        "nope" => Err(Status::not_found(format!("No such container: {id}"))),
        _ => Ok(()),
    }
}

fn output(stream: &str, data: &str) -> AttachContainerResponse {
    AttachContainerResponse {
        event: Some(Event::Output(LogEntry {
            stream: stream.into(),
            data: data.as_bytes().to_vec(),
            time: "2024-05-01T10:00:00.5Z".into(),
        })),
    }
}

fn exit(code: i32) -> AttachContainerResponse {
    AttachContainerResponse {
        event: Some(Event::Exit(ContainerExit {
            exit_code: code,
            ..Default::default()
        })),
    }
}

fn exec_failure(message: &str, code: &str) -> Status {
    let mut status = Status::failed_precondition(message);
    status
        .metadata_mut()
        .insert("berth-exit-code", code.parse().unwrap());
    status
}

type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Containers for Fake {
    async fn create(
        &self,
        req: Request<CreateContainerRequest>,
    ) -> Result<Response<CreateContainerResponse>, Status> {
        self.note(&req, "create".into());
        let req = req.into_inner();
        let config = req.config.clone().unwrap_or_default();
        if req.name == "taken" {
            return Err(Status::already_exists(
                "Conflict. The container name \"/taken\" is already in use",
            ));
        }
        let known =
            config.image == "busybox" || self.state.lock().unwrap().images.contains(&config.image);
        if !known {
            return Err(Status::not_found(format!(
                "No such image: {}",
                config.image
            )));
        }
        if config.tty {
            return Err(Status::unimplemented("-t is not supported yet"));
        }
        let mut state = self.state.lock().unwrap();
        state.cmd = config.cmd.clone();
        state.creates.push(req);
        Ok(Response::new(CreateContainerResponse {
            id: CONTAINER_ID.into(),
            warnings: vec!["your kernel does not support swap limit capabilities".into()],
        }))
    }

    async fn start(
        &self,
        req: Request<StartContainerRequest>,
    ) -> Result<Response<StartContainerResponse>, Status> {
        let id = req.get_ref().id.clone();
        self.note(&req, format!("start {id}"));
        no_such(&id)?;
        let (cmd, tx) = {
            let state = self.state.lock().unwrap();
            (state.cmd.clone(), state.attached.clone())
        };
        match cmd.first().map(String::as_str) {
            Some("nosuchcmd") => {
                return Err(exec_failure(
                    "exec: \"nosuchcmd\": executable file not found in $PATH",
                    "127",
                ))
            }
            Some("/etc/passwd") => {
                return Err(exec_failure("exec /etc/passwd: permission denied", "126"))
            }
            _ => {}
        }
        if let Some(tx) = tx {
            tokio::spawn(async move {
                for word in cmd {
                    let message = if let Some(t) = word.strip_prefix("out:") {
                        output("stdout", &format!("{t}\n"))
                    } else if let Some(t) = word.strip_prefix("err:") {
                        output("stderr", &format!("{t}\n"))
                    } else if let Some(code) = word.strip_prefix("exit:") {
                        exit(code.parse().unwrap())
                    } else {
                        continue;
                    };
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
            });
        }
        Ok(Response::new(StartContainerResponse {}))
    }

    async fn stop(
        &self,
        req: Request<StopContainerRequest>,
    ) -> Result<Response<StopContainerResponse>, Status> {
        let r = req.get_ref().clone();
        self.note(&req, format!("stop {} {} {}", r.id, r.timeout, r.signal));
        no_such(&r.id)?;
        Ok(Response::new(StopContainerResponse {}))
    }

    async fn restart(
        &self,
        req: Request<RestartContainerRequest>,
    ) -> Result<Response<RestartContainerResponse>, Status> {
        let r = req.get_ref().clone();
        self.note(&req, format!("restart {} {}", r.id, r.timeout));
        no_such(&r.id)?;
        Ok(Response::new(RestartContainerResponse {}))
    }

    async fn kill(
        &self,
        req: Request<KillContainerRequest>,
    ) -> Result<Response<KillContainerResponse>, Status> {
        let r = req.get_ref().clone();
        self.note(&req, format!("kill {} {}", r.id, r.signal));
        no_such(&r.id)?;
        let tx = self.state.lock().unwrap().attached.take();
        if let Some(tx) = tx {
            let code = match r.signal.as_str() {
                "SIGINT" => 130,
                "SIGTERM" => 143,
                _ => 137,
            };
            let _ = tx.send(Ok(exit(code))).await;
        }
        Ok(Response::new(KillContainerResponse {}))
    }

    async fn remove(
        &self,
        req: Request<RemoveContainerRequest>,
    ) -> Result<Response<RemoveContainerResponse>, Status> {
        let r = req.get_ref().clone();
        self.note(&req, format!("remove {} {}", r.id, r.force));
        no_such(&r.id)?;
        if r.id == "running" && !r.force {
            return Err(Status::failed_precondition(
                "You cannot remove a running container running. Stop the container before attempting removal or force remove",
            ));
        }
        Ok(Response::new(RemoveContainerResponse {}))
    }

    async fn list(
        &self,
        req: Request<ListContainersRequest>,
    ) -> Result<Response<ListContainersResponse>, Status> {
        self.note(&req, "list".into());
        self.state.lock().unwrap().list = Some(req.into_inner());
        let ago = |hours| (chrono::Utc::now() - chrono::TimeDelta::hours(hours)).to_rfc3339();
        let container = |id: &str, name: &str, status: &str| Container {
            id: id.repeat(64),
            name: name.into(),
            image: "busybox".into(),
            command: vec!["sleep".into(), "1000".into()],
            created: ago(3),
            state: Some(ContainerState {
                status: status.into(),
                running: status == "running",
                exit_code: if status == "exited" { 137 } else { 0 },
                started_at: ago(2),
                finished_at: ago(1),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut web = container("b", "web", "running");
        web.ports = vec![
            PortMapping {
                container_port: 80,
                protocol: "tcp".into(),
                host_ip: "0.0.0.0".into(),
                host_port: 8080,
            },
            PortMapping {
                container_port: 443,
                protocol: "tcp".into(),
                ..Default::default()
            },
        ];
        web.networks = vec!["bridge".into()];
        Ok(Response::new(ListContainersResponse {
            containers: vec![web, container("a", "old", "exited")],
        }))
    }

    async fn inspect(
        &self,
        req: Request<InspectContainerRequest>,
    ) -> Result<Response<InspectContainerResponse>, Status> {
        let id = req.get_ref().id.clone();
        self.note(&req, format!("inspect {id} {}", req.get_ref().size));
        if id == "ported" {
            // docker's NetworkSettings.Ports: published ports and a port
            // that is only exposed (null).
            let json = r#"{"Id":"p","Name":"/ported","NetworkSettings":{"Ports":{
                "8080/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],
                "80/tcp":[{"HostIp":"0.0.0.0","HostPort":"32768"},{"HostIp":"127.0.0.1","HostPort":"8000"}],
                "81/tcp":null,
                "53/udp":[{"HostIp":"0.0.0.0","HostPort":"5353"}]}}}"#;
            return Ok(Response::new(InspectContainerResponse {
                json: json.into(),
            }));
        }
        if id != "web" {
            return Err(Status::not_found(format!("No such container: {id}")));
        }
        // Literal text: berthd sends docker's field order, which the CLI keeps.
        let json = format!(
            r#"{{"Id":"{CONTAINER_ID}","Name":"/web","State":{{"Status":"running","Running":true,"Pid":42,"ExitCode":0}}}}"#
        );
        Ok(Response::new(InspectContainerResponse { json }))
    }

    type WaitStream = Streamed<WaitContainerResponse>;

    async fn wait(
        &self,
        req: Request<WaitContainerRequest>,
    ) -> Result<Response<Self::WaitStream>, Status> {
        let id = req.get_ref().id.clone();
        self.note(&req, format!("wait {id}"));
        no_such(&id)?;
        let code = if id == "seven" { 7 } else { 0 };
        let items = vec![
            Ok(WaitContainerResponse {
                registered: true,
                ..Default::default()
            }),
            Ok(WaitContainerResponse {
                exit_code: code,
                ..Default::default()
            }),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }

    type LogsStream = Streamed<LogEntry>;

    async fn logs(
        &self,
        req: Request<ContainerLogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        self.note(&req, "logs".into());
        let req = req.into_inner();
        no_such(&req.id)?;
        self.state.lock().unwrap().logs = Some(req);
        let entry = |stream: &str, data: &str, time: &str| {
            Ok(LogEntry {
                stream: stream.into(),
                data: data.as_bytes().to_vec(),
                time: time.into(),
            })
        };
        let items = vec![
            entry("stdout", "line1\n", "2024-05-01T10:00:00.123456789Z"),
            entry("stderr", "err1\n", "2024-05-01T10:00:01Z"),
            entry("stdout", "line2\n", "2024-05-01T10:00:02.5Z"),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }

    type AttachStream = Streamed<AttachContainerResponse>;

    async fn attach(
        &self,
        req: Request<tonic::Streaming<AttachContainerInput>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let ns = namespace(&req);
        let mut inbound = req.into_inner();
        let open = match inbound.message().await? {
            Some(AttachContainerInput {
                msg: Some(attach_container_input::Msg::Open(o)),
            }) => o,
            _ => return Err(Status::invalid_argument("no open")),
        };
        self.noted(ns, format!("attach {}", open.id));
        no_such(&open.id)?;
        let (tx, rx) = mpsc::channel(16);
        tx.send(Ok(AttachContainerResponse {
            event: Some(Event::Registered(true)),
        }))
        .await
        .unwrap();
        self.state.lock().unwrap().attached = Some(tx);
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type ExecStream = Streamed<ExecOutput>;

    async fn exec(
        &self,
        _req: Request<tonic::Streaming<ExecInput>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        Err(Status::unimplemented("the fake does not exec"))
    }

    async fn resize(
        &self,
        req: Request<ResizeRequest>,
    ) -> Result<Response<ResizeResponse>, Status> {
        let r = req.get_ref().clone();
        self.note(&req, format!("resize {} {}x{}", r.id, r.width, r.height));
        Ok(Response::new(ResizeResponse {}))
    }

    async fn top(
        &self,
        req: Request<TopContainerRequest>,
    ) -> Result<Response<TopContainerResponse>, Status> {
        let r = req.get_ref().clone();
        self.note(&req, format!("top {} {}", r.id, r.ps_args.join(" ")));
        Ok(Response::new(TopContainerResponse {
            titles: vec!["PID".into(), "CMD".into()],
            processes: vec![TopRow {
                fields: vec!["4242".into(), "sleep 1000".into()],
            }],
        }))
    }

    async fn stat_path(
        &self,
        _: Request<berth_proto::v1::StatPathRequest>,
    ) -> Result<Response<berth_proto::v1::PathStat>, Status> {
        Err(Status::unimplemented("the fake does not cp"))
    }

    type CopyFromStream = Streamed<berth_proto::v1::CopyFromResponse>;

    async fn copy_from(
        &self,
        _: Request<berth_proto::v1::CopyFromRequest>,
    ) -> Result<Response<Self::CopyFromStream>, Status> {
        Err(Status::unimplemented("the fake does not cp"))
    }

    async fn copy_to(
        &self,
        _: Request<tonic::Streaming<berth_proto::v1::CopyToInput>>,
    ) -> Result<Response<berth_proto::v1::CopyToResponse>, Status> {
        Err(Status::unimplemented("the fake does not cp"))
    }

    async fn rename(
        &self,
        req: Request<RenameContainerRequest>,
    ) -> Result<Response<RenameContainerResponse>, Status> {
        let r = req.get_ref().clone();
        self.note(&req, format!("rename {} {}", r.id, r.new_name));
        Ok(Response::new(RenameContainerResponse {}))
    }
}
