//! The Task gRPC service: each call is translated into a job on the task
//! state ([`super::state::State`]) and its result back into a reply;
//! Attach streams are in [`super::attach`].

use std::time::Duration;

use berth_proto::shim::v1::{
    task_server::Task, AttachInput, CloseIoRequest, CreateTaskRequest, CreateTaskResponse,
    DeleteRequest, Empty, ExecRequest, ExitStatus, InfoRequest, InfoResponse, KillRequest,
    PauseRequest, PidsRequest, PidsResponse, ResizePtyRequest, ResumeRequest, ShutdownRequest,
    StartRequest, StartResponse, StateRequest, StateResponse, StatsRequest, StatsResponse,
    WaitRequest,
};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::attach;
use super::exit::ExitRecord;
use super::state::{DeleteStep, Jobs};
use crate::runtime::ConsoleSize;

/// How long Delete of a created (never started) task waits for the killed init.
const DELETE_KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Lets the reply reach the client before the process exits.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(20);

pub struct Service {
    jobs: Jobs,
}

impl Service {
    pub fn new(jobs: Jobs) -> Service {
        Service { jobs }
    }
}

type Reply<T> = Result<Response<T>, Status>;

async fn exited(mut rx: watch::Receiver<Option<ExitRecord>>) -> Result<ExitRecord, Status> {
    let exit = rx
        .wait_for(Option::is_some)
        .await
        .map_err(|_| Status::internal("the shim's exit channel closed"))?;
    exit.clone()
        .ok_or_else(|| Status::internal("exit channel woke without an exit"))
}

#[tonic::async_trait]
impl Task for Service {
    async fn create(&self, req: Request<CreateTaskRequest>) -> Reply<CreateTaskResponse> {
        let req = req.into_inner();
        let r = self.jobs.call(move |s| s.create(req)).await?;
        Ok(Response::new(r?))
    }

    async fn start(&self, req: Request<StartRequest>) -> Reply<StartResponse> {
        let req = req.into_inner();
        let pid = self
            .jobs
            .call(move |s| s.start(&req.id, &req.exec_id))
            .await??;
        Ok(Response::new(StartResponse { pid }))
    }

    async fn state(&self, req: Request<StateRequest>) -> Reply<StateResponse> {
        let req = req.into_inner();
        let r = self
            .jobs
            .call(move |s| s.state(&req.id, &req.exec_id))
            .await??;
        Ok(Response::new(r))
    }

    async fn kill(&self, req: Request<KillRequest>) -> Reply<Empty> {
        let r = req.into_inner();
        self.jobs
            .call(move |s| s.kill(&r.id, &r.exec_id, r.signal, r.all))
            .await??;
        Ok(Response::new(Empty {}))
    }

    async fn wait(&self, req: Request<WaitRequest>) -> Reply<ExitStatus> {
        let req = req.into_inner();
        let rx = self
            .jobs
            .call(move |s| s.wait(&req.id, &req.exec_id))
            .await??;
        Ok(Response::new(exited(rx).await?.to_proto()))
    }

    async fn delete(&self, req: Request<DeleteRequest>) -> Reply<ExitStatus> {
        let req = req.into_inner();
        // At most: kill a created task, wait for its exit, delete.
        for _ in 0..3 {
            let (id, exec_id) = (req.id.clone(), req.exec_id.clone());
            match self.jobs.call(move |s| s.delete(&id, &exec_id)).await?? {
                DeleteStep::Done(exit) => return Ok(Response::new(exit.to_proto())),
                DeleteStep::WaitExit(rx) => {
                    tokio::time::timeout(DELETE_KILL_TIMEOUT, exited(rx))
                        .await
                        .map_err(|_| {
                            Status::deadline_exceeded("the task did not exit after SIGKILL")
                        })??;
                }
            }
        }
        Err(Status::internal("the task could not be deleted"))
    }

    async fn pids(&self, req: Request<PidsRequest>) -> Reply<PidsResponse> {
        let req = req.into_inner();
        Ok(Response::new(
            self.jobs.call(move |s| s.pids(&req.id)).await??,
        ))
    }

    async fn exec(&self, req: Request<ExecRequest>) -> Reply<Empty> {
        let req = req.into_inner();
        self.jobs.call(move |s| s.exec(req)).await??;
        Ok(Response::new(Empty {}))
    }

    async fn resize_pty(&self, req: Request<ResizePtyRequest>) -> Reply<Empty> {
        let r = req.into_inner();
        let size = ConsoleSize::new(r.width, r.height);
        self.jobs
            .call(move |s| s.resize_pty(&r.id, &r.exec_id, size))
            .await??;
        Ok(Response::new(Empty {}))
    }

    type AttachStream = attach::AttachStream;

    async fn attach(
        &self,
        req: Request<tonic::Streaming<AttachInput>>,
    ) -> Reply<Self::AttachStream> {
        Ok(Response::new(
            attach::open(&self.jobs, req.into_inner()).await?,
        ))
    }

    async fn close_io(&self, req: Request<CloseIoRequest>) -> Reply<Empty> {
        let req = req.into_inner();
        self.jobs
            .call(move |s| s.close_io(&req.id, &req.exec_id))
            .await??;
        Ok(Response::new(Empty {}))
    }

    async fn stats(&self, req: Request<StatsRequest>) -> Reply<StatsResponse> {
        let req = req.into_inner();
        Ok(Response::new(
            self.jobs.call(move |s| s.stats(&req.id)).await??,
        ))
    }

    async fn pause(&self, req: Request<PauseRequest>) -> Reply<Empty> {
        let req = req.into_inner();
        self.jobs.call(move |s| s.pause(&req.id)).await??;
        Ok(Response::new(Empty {}))
    }

    async fn resume(&self, req: Request<ResumeRequest>) -> Reply<Empty> {
        let req = req.into_inner();
        self.jobs.call(move |s| s.resume(&req.id)).await??;
        Ok(Response::new(Empty {}))
    }

    async fn info(&self, _req: Request<InfoRequest>) -> Reply<InfoResponse> {
        let (shim_pid, task_pid) = self.jobs.call(|s| s.info()).await?;
        Ok(Response::new(InfoResponse {
            shim_pid,
            task_pid,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }

    async fn shutdown(&self, req: Request<ShutdownRequest>) -> Reply<Empty> {
        let now = req.into_inner().now;
        // The socket goes before the reply: berthd may start a new shim on
        // the same address as soon as it has the answer.
        self.jobs.call(move |s| s.shutdown(now)).await??;
        tokio::spawn(async move {
            tokio::time::sleep(SHUTDOWN_FLUSH).await;
            std::process::exit(0);
        });
        Ok(Response::new(Empty {}))
    }
}
