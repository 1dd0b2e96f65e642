//! Content service.

use super::status::OrStatus;
use berth_proto::v1::{
    content_server, ContentInfo, ContentInfoRequest, ListContentRequest, ListContentResponse,
    VerifyContentRequest, VerifyContentResponse, VerifyResult,
};
use tonic::{Request, Response, Status};

use super::{blocking, namespace};
use berth_engine::engine::Engine;
use berth_engine::store::ContentRecord;

pub struct Content {
    engine: Engine,
}

impl Content {
    pub fn new(engine: Engine) -> Self {
        Content { engine }
    }
}

fn info(r: ContentRecord) -> ContentInfo {
    ContentInfo {
        digest: r.digest,
        size: r.size as i64,
        created_at: r.created_at,
        labels: r.labels.into_iter().collect(),
    }
}

#[tonic::async_trait]
impl content_server::Content for Content {
    async fn list(
        &self,
        req: Request<ListContentRequest>,
    ) -> Result<Response<ListContentResponse>, Status> {
        let ns = namespace(&req)?;
        let blobs = self
            .engine
            .list_content(&ns)
            .or_status()?
            .into_iter()
            .map(info)
            .collect();
        Ok(Response::new(ListContentResponse { blobs }))
    }

    async fn info(
        &self,
        req: Request<ContentInfoRequest>,
    ) -> Result<Response<ContentInfo>, Status> {
        let ns = namespace(&req)?;
        let rec = self
            .engine
            .content_info(&ns, &req.into_inner().digest)
            .or_status()?;
        Ok(Response::new(info(rec)))
    }

    async fn verify(
        &self,
        req: Request<VerifyContentRequest>,
    ) -> Result<Response<VerifyContentResponse>, Status> {
        let ns = namespace(&req)?;
        let engine = self.engine.clone();
        let results = blocking(move || engine.verify_content(&ns)).await?;
        Ok(Response::new(VerifyContentResponse {
            results: results
                .into_iter()
                .map(|(digest, r)| VerifyResult {
                    digest,
                    ok: r.is_ok(),
                    error: r.err().unwrap_or_default(),
                })
                .collect(),
        }))
    }
}
