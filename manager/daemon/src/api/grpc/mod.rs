//! The native gRPC front door. It translates requests into engine calls and
//! engine results into responses; it never touches the store. Blocking work
//! (archives, hashing, unpacking) runs on the blocking pool.

mod containers;
mod content;
mod cp;
mod images;
mod namespaces;
mod networks;
mod snapshots;
pub mod status;
mod stream;
mod system;
mod volumes;

use crate::api::grpc::status::OrStatus;
use std::future::Future;

use berth_proto::v1::{
    containers_server::ContainersServer, content_server::ContentServer,
    images_server::ImagesServer, namespaces_server::NamespacesServer,
    networks_server::NetworksServer, snapshots_server::SnapshotsServer,
    system_server::SystemServer, volumes_server::VolumesServer,
};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Status};

use berth_engine::engine::Engine;

/// Largest gRPC message accepted or sent.
const MAX_MESSAGE: usize = 16 << 20;

/// Serves every native service on `listener` until `shutdown` resolves.
pub async fn serve(
    engine: Engine,
    listener: UnixListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        // One span per request: the method and the namespace it acts in;
        // the engine's operations add the object's id below it.
        .trace_fn(|req| {
            let ns = req
                .headers()
                .get(berth_proto::NAMESPACE_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(berth_proto::DEFAULT_NAMESPACE);
            tracing::info_span!("grpc", method = %req.uri().path(), namespace = %ns)
        })
        // HTTP/2's default 64 KiB window throttles archive streams.
        .initial_stream_window_size(Some(16 << 20))
        .initial_connection_window_size(Some(16 << 20))
        .add_service(
            NamespacesServer::new(namespaces::Namespaces::new(engine.clone()))
                .max_decoding_message_size(MAX_MESSAGE),
        )
        .add_service(
            ImagesServer::new(images::Images::new(engine.clone()))
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        )
        .add_service(ContentServer::new(content::Content::new(engine.clone())))
        .add_service(ContainersServer::new(containers::Containers::new(
            engine.clone(),
        )))
        .add_service(SnapshotsServer::new(snapshots::Snapshots::new(
            engine.clone(),
        )))
        .add_service(NetworksServer::new(networks::Networks::new(engine.clone())))
        .add_service(VolumesServer::new(volumes::Volumes::new(engine.clone())))
        .add_service(SystemServer::new(system::System::new(engine)))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await
}

/// The namespace of a request (metadata "berth-namespace", else "default").
pub fn namespace<T>(req: &Request<T>) -> Result<String, Status> {
    let ns = match req.metadata().get(berth_proto::NAMESPACE_HEADER) {
        None => berth_proto::DEFAULT_NAMESPACE.to_string(),
        Some(v) => v
            .to_str()
            .map_err(|_| Status::invalid_argument("namespace header is not text"))?
            .to_string(),
    };
    berth_engine::system::validate_namespace(&ns).or_status()?;
    Ok(ns)
}
