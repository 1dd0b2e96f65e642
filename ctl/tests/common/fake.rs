//! The one fake behind every service of the fake daemon, and what it
//! records of the requests that reach it (and what a test sets up).

use std::sync::{Arc, Mutex};

use berth_proto::v1::*;
use tokio::sync::mpsc;
use tonic::{Request, Status};

pub type AttachTx = mpsc::Sender<Result<AttachContainerResponse, Status>>;

#[derive(Default)]
pub struct State {
    // Every service.
    /// The namespace header of each call (`<none>` without one).
    pub namespaces: Vec<String>,
    /// Each call, as a line naming it and what a test checks of it.
    pub calls: Vec<String>,

    // Containers.
    pub creates: Vec<CreateContainerRequest>,
    pub list: Option<ListContainersRequest>,
    pub logs: Option<ContainerLogsRequest>,
    /// The last created container's command: the script start runs.
    pub cmd: Vec<String>,
    pub attached: Option<AttachTx>,
    /// Images besides busybox that create accepts (a fake pull adds them).
    pub images: Vec<String>,

    // Images.
    pub pulls: Vec<PullImageRequest>,
    pub pushes: Vec<PushImageRequest>,
    pub logins: Vec<LoginRequest>,
    pub searches: Vec<SearchRequest>,
    pub load_chunks: Vec<usize>,
    pub import_header: Option<ImportHeader>,
    pub import_bytes: usize,

    // Networks.
    pub network_creates: Vec<CreateNetworkRequest>,
    pub network_filters: Vec<String>,
    pub connects: Vec<ConnectNetworkRequest>,
    pub disconnects: Vec<DisconnectNetworkRequest>,
}

#[derive(Clone, Default)]
pub struct Fake {
    pub state: Arc<Mutex<State>>,
}

/// The namespace header of a call.
pub fn namespace<T>(req: &Request<T>) -> String {
    req.metadata()
        .get(berth_proto::NAMESPACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>")
        .to_owned()
}

impl Fake {
    /// Records a call and its namespace.
    pub fn note<T>(&self, req: &Request<T>, call: String) {
        self.noted(namespace(req), call);
    }

    /// Records a call whose namespace was read before.
    pub fn noted(&self, namespace: String, call: String) {
        let mut state = self.state.lock().unwrap();
        state.namespaces.push(namespace);
        state.calls.push(call);
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn pulls(&self) -> Vec<PullImageRequest> {
        self.state.lock().unwrap().pulls.clone()
    }
}
