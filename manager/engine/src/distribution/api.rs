//! The distribution operations of the images service: pull, push, login
//! and search, each async, with progress as engine events.

use tracing::warn;

use super::login::{self, Hit};
use super::progress::Progress;
use super::pull::{self, PullRequest, Pulled};
use super::push::{self, PushRequest, Pushed};
use super::RegistryCredentials;
use crate::core::{blocking, OnCore};
use crate::error::Result;
use crate::events::Action;
use crate::image::api::image_event;
use crate::image::Images;

/// Checking credentials against a registry (`docker login`).
#[derive(Clone, Debug)]
pub struct LoginRequest {
    pub server: String,
    pub username: String,
    pub password: String,
}

impl Images {
    /// Runs a registry transfer (pull, push) on the blocking pool, inside
    /// the caller's span, with a handle to this runtime for its concurrent
    /// downloads or uploads.
    async fn registry_transfer<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Images, &tokio::runtime::Handle) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let images = self.clone();
        let rt = tokio::runtime::Handle::current();
        let span = tracing::Span::current();
        blocking(move || {
            let _span = span.enter();
            f(&images, &rt)
        })
        .await
    }

    /// Pulls an image from its registry, reporting progress as it goes;
    /// dropping the progress receiver cancels the downloads.
    #[tracing::instrument(skip_all, fields(namespace = %ns, reference = %req.reference))]
    pub async fn image_pull(
        &self,
        ns: &str,
        req: PullRequest,
        progress: Progress,
    ) -> Result<Pulled> {
        let owned = ns.to_string();
        let r = self
            .registry_transfer(move |e, rt| pull::pull(e, &owned, &req, &progress, rt))
            .await;
        match &r {
            Ok(p) => self.publish(image_event(ns, Action::Pull, &p.name)),
            Err(e) => warn!(error = %e, "pull failed"),
        }
        r
    }

    /// Pushes a local image to its registry, reporting progress.
    #[tracing::instrument(skip_all, fields(namespace = %ns, reference = %req.name))]
    pub async fn image_push(
        &self,
        ns: &str,
        req: PushRequest,
        progress: Progress,
    ) -> Result<Pushed> {
        let owned = ns.to_string();
        let r = self
            .registry_transfer(move |e, rt| push::push(e, &owned, &req, &progress, rt))
            .await;
        match &r {
            Ok(p) => self.publish(image_event(ns, Action::Push, &p.tag)),
            Err(e) => warn!(error = %e, "push failed"),
        }
        r
    }

    /// Checks credentials against a registry; returns the key docker keeps
    /// them under.
    #[tracing::instrument(skip_all, fields(server = %req.server))]
    pub async fn registry_login(&self, req: LoginRequest) -> Result<String> {
        login::login(self.config(), &req.server, &req.username, &req.password).await
    }

    /// Searches a registry ("host/term" for another than Docker Hub).
    #[tracing::instrument(skip_all, fields(term = %term))]
    pub async fn registry_search(
        &self,
        term: &str,
        limit: u32,
        auth: &RegistryCredentials,
    ) -> Result<Vec<Hit>> {
        login::search(self.config(), term, limit, auth).await
    }
}
