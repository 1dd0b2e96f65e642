//! `cp`'s calls of the Containers service: a path's stat, a tar stream
//! out of a container (its stat first), a tar stream into one.

use berth_engine::container::cp::{CopyTo, PathStat};
use berth_engine::engine::Engine;
use berth_proto::v1::{
    copy_from_response, copy_to_input, CopyFromRequest, CopyFromResponse, CopyToInput,
    CopyToResponse, PathStat as PPathStat, StatPathRequest,
};
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::namespace;
use super::status::OrStatus;
use super::stream::bytes_of;

pub type CopyFromStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<CopyFromResponse, Status>> + Send>>;

fn stat_of(s: PathStat) -> PPathStat {
    PPathStat {
        name: s.name,
        size: s.size,
        mode: s.mode,
        mtime: s.mtime,
        link_target: s.link_target,
    }
}

pub async fn stat_path(
    engine: &Engine,
    req: Request<StatPathRequest>,
) -> Result<Response<PPathStat>, Status> {
    let ns = namespace(&req)?;
    let r = req.into_inner();
    let stat = engine
        .containers()
        .container_stat_path(&ns, &r.id, &r.path)
        .await
        .or_status()?;
    Ok(Response::new(stat_of(stat)))
}

pub async fn copy_from(
    engine: &Engine,
    req: Request<CopyFromRequest>,
) -> Result<Response<CopyFromStream>, Status> {
    let ns = namespace(&req)?;
    let r = req.into_inner();
    let (stat, bytes) = engine
        .containers()
        .container_copy_from(&ns, &r.id, &r.path)
        .await
        .or_status()?;
    let first = futures::stream::once(async move {
        Ok(CopyFromResponse {
            payload: Some(copy_from_response::Payload::Stat(stat_of(stat))),
        })
    });
    let data = bytes.map(|r| {
        r.map(|d| CopyFromResponse {
            payload: Some(copy_from_response::Payload::Data(d)),
        })
        .map_err(super::status::to_status)
    });
    Ok(Response::new(Box::pin(first.chain(data))))
}

pub async fn copy_to(
    engine: &Engine,
    req: Request<Streaming<CopyToInput>>,
) -> Result<Response<CopyToResponse>, Status> {
    let ns = namespace(&req)?;
    let mut stream = req.into_inner();
    let header = match stream.message().await? {
        Some(CopyToInput {
            payload: Some(copy_to_input::Payload::Header(h)),
        }) => h,
        _ => {
            return Err(Status::invalid_argument(
                "cp: the first message must carry the header",
            ))
        }
    };
    let archive = bytes_of(stream, |m: CopyToInput| match m.payload {
        Some(copy_to_input::Payload::Data(d)) => Some(d),
        _ => None,
    });
    let req = CopyTo {
        path: header.path,
        copy_uid_gid: header.copy_uid_gid,
    };
    engine
        .containers()
        .container_copy_to(&ns, &header.id, req, archive)
        .await
        .or_status()?;
    Ok(Response::new(CopyToResponse {}))
}
