//! The connection to berthd: a tonic channel over its unix socket, with the
//! namespace added to every request's metadata.

use std::path::PathBuf;

use berth_proto::v1::{
    containers_client::ContainersClient, content_client::ContentClient,
    images_client::ImagesClient, namespaces_client::NamespacesClient,
    networks_client::NetworksClient, snapshots_client::SnapshotsClient,
    system_client::SystemClient, volumes_client::VolumesClient,
};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint, Uri};

/// HTTP/2 flow-control window for the connection to berthd.
const WINDOW: u32 = 16 << 20;

use crate::error::CliError;

/// Large enough for any image config or manifest the daemon returns in one
/// message; archive data itself travels in 1 MiB chunks.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Turns `-H` into a socket path: `unix:///PATH` or a bare absolute path.
pub fn parse_host(host: &str) -> Result<PathBuf, CliError> {
    let unsupported = || {
        CliError::Invalid(format!(
            "invalid host \"{host}\": only unix sockets are supported (unix:///PATH)"
        ))
    };
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(unsupported());
        }
        return Ok(PathBuf::from(path));
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    Err(unsupported())
}

/// Adds `berth-namespace: <ns>` to every request.
#[derive(Clone, Debug)]
pub struct NamespaceInterceptor {
    namespace: AsciiMetadataValue,
}

impl NamespaceInterceptor {
    pub fn new(namespace: &str) -> Result<Self, CliError> {
        let namespace = MetadataValue::try_from(namespace)
            .map_err(|_| CliError::Invalid(format!("invalid namespace \"{namespace}\"")))?;
        Ok(NamespaceInterceptor { namespace })
    }
}

impl Interceptor for NamespaceInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert(berth_proto::NAMESPACE_HEADER, self.namespace.clone());
        Ok(request)
    }
}

/// The transport every generated client runs over.
pub type Service = InterceptedService<Channel, NamespaceInterceptor>;

/// A connected client; hands out the per-service gRPC clients.
pub struct Client {
    channel: Channel,
    interceptor: NamespaceInterceptor,
}

impl Client {
    /// Dials the socket at once, so a daemon that is not there is reported
    /// before any work starts.
    pub async fn connect(host: &str, namespace: &str) -> Result<Client, CliError> {
        let path = parse_host(host)?;
        let interceptor = NamespaceInterceptor::new(namespace)?;
        let address = format!("unix://{}", path.display());
        // The URI is a placeholder: the connector below ignores it.
        let endpoint = Endpoint::try_from("http://[::]:50051")
            .map_err(|e| CliError::Connect {
                address: address.clone(),
                why: root_cause(&e),
            })?
            // HTTP/2's default 64 KiB window throttles archive streams.
            .initial_stream_window_size(WINDOW)
            .initial_connection_window_size(WINDOW);
        let channel =
            endpoint
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }))
                .await
                .map_err(|e| CliError::Connect {
                    address,
                    why: root_cause(&e),
                })?;
        Ok(Client {
            channel,
            interceptor,
        })
    }

    fn service(&self) -> Service {
        InterceptedService::new(self.channel.clone(), self.interceptor.clone())
    }

    pub fn images(&self) -> ImagesClient<Service> {
        ImagesClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE)
    }

    pub fn namespaces(&self) -> NamespacesClient<Service> {
        NamespacesClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE)
    }

    pub fn content(&self) -> ContentClient<Service> {
        ContentClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE)
    }

    pub fn snapshots(&self) -> SnapshotsClient<Service> {
        SnapshotsClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE)
    }

    pub fn containers(&self) -> ContainersClient<Service> {
        ContainersClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE)
    }

    pub fn networks(&self) -> NetworksClient<Service> {
        NetworksClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE)
    }

    pub fn volumes(&self) -> VolumesClient<Service> {
        VolumesClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE)
    }

    pub fn system(&self) -> SystemClient<Service> {
        SystemClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE)
    }
}

/// The innermost cause's message: tonic's own "transport error" says
/// nothing, the io::Error under it does.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("unix:///run/berth/berth.sock").unwrap(),
            PathBuf::from("/run/berth/berth.sock")
        );
        assert_eq!(
            parse_host("/tmp/b.sock").unwrap(),
            PathBuf::from("/tmp/b.sock")
        );
        for bad in [
            "tcp://127.0.0.1:2375",
            "http://x",
            "unix://",
            "relative.sock",
            "",
        ] {
            let err = parse_host(bad).unwrap_err().to_string();
            assert!(
                err.contains("only unix sockets are supported"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn interceptor_adds_the_namespace() {
        let mut interceptor = NamespaceInterceptor::new("k8s.io").unwrap();
        let request = interceptor.call(tonic::Request::new(())).unwrap();
        assert_eq!(
            request
                .metadata()
                .get(berth_proto::NAMESPACE_HEADER)
                .unwrap()
                .to_str()
                .unwrap(),
            "k8s.io"
        );
        // A namespace already in the metadata is replaced, not doubled.
        let request = interceptor.call(request).unwrap();
        assert_eq!(
            request
                .metadata()
                .get_all(berth_proto::NAMESPACE_HEADER)
                .iter()
                .count(),
            1
        );
    }

    #[test]
    fn interceptor_refuses_unsendable_namespaces() {
        assert!(NamespaceInterceptor::new("bad\nname").is_err());
    }

    #[tokio::test]
    async fn missing_socket_is_a_connect_error() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("none.sock");
        let host = format!("unix://{}", sock.display());
        let err = match Client::connect(&host, "default").await {
            Ok(_) => panic!("connected to nothing"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.starts_with(&format!("cannot connect to berthd at {host}: ")),
            "{err}"
        );
        assert!(err.contains("No such file or directory"), "{err}");
        assert!(err.ends_with("Is berthd running?"), "{err}");
    }
}
