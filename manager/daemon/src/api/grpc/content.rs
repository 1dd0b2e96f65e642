//! Content service.

use super::status::OrStatus;
use berth_proto::v1::{
    content_server, ContentInfo, ContentInfoRequest, ListContentRequest, ListContentResponse,
    VerifyContentRequest, VerifyContentResponse, VerifyResult,
};
use tonic::{Request, Response, Status};

use super::namespace;
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
            .content_list(&ns)
            .await
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
            .content_inspect(&ns, &req.into_inner().digest)
            .await
            .or_status()?;
        Ok(Response::new(info(rec)))
    }

    async fn verify(
        &self,
        req: Request<VerifyContentRequest>,
    ) -> Result<Response<VerifyContentResponse>, Status> {
        let ns = namespace(&req)?;
        let results = self.engine.content_verify(&ns).await.or_status()?;
        Ok(Response::new(VerifyContentResponse {
            results: results
                .into_iter()
                .map(|c| VerifyResult {
                    digest: c.digest,
                    ok: c.error.is_none(),
                    error: c.error.unwrap_or_default(),
                })
                .collect(),
        }))
    }
}
