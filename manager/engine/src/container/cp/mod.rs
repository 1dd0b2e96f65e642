//! `cp`: docker cp's daemon side — a path of a container as a stat and a
//! tar stream out, a tar stream extracted into a directory of a container
//! — for created, running and exited containers alike.
//!
//! The container's filesystem is mounted for the copy ([`root`]) under its
//! op lock, held until the stream ends, so a start never races the
//! temporary mount and a stop waits for the copy. Every path inside is
//! resolved by descriptor ([`path`], [`berth_inroot`]), the tar is walked
//! ([`pack`]) and extracted ([`unpack`]) by descriptor, on the blocking
//! pool, through bounded channels: the archive is never held whole.
//!
//! The client's side of docker's rules (which directory to extract into,
//! rebasing names, `-L`) stays in the client, as in docker-cli.

pub mod pack;
pub mod path;
pub mod root;
pub mod unpack;

use std::io::{self, Write};
use std::path::Path;

use futures::Stream;
use tokio::sync::oneshot;
use tracing::warn;

pub use self::path::PathStat;
use self::path::{absolute, Located};
use self::root::{CopyRoot, Rootfs};
use self::unpack::Unpack;
use super::record::bundle_dir;
use super::registry::detached;
use super::Containers;
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::image::stream::{ByteStream, ChannelReader, ChannelWriter};

/// A copy into a container (docker's PUT /containers/{id}/archive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyTo {
    /// The directory to extract into (its symlinks followed).
    pub path: String,
    /// `cp -a`: keep the archive's uid/gid; else everything is root's.
    pub copy_uid_gid: bool,
}

impl Containers {
    /// docker's stat of `path` in the container (HEAD .../archive).
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s, path = %path))]
    pub async fn container_stat_path(&self, ns: &str, s: &str, path: &str) -> Result<PathStat> {
        let (abs, asked) = (absolute(path), (s.to_string(), path.to_string()));
        self.in_root(ns, s, move |root| {
            let loc = locate(root, &abs, &asked)?;
            loc.path_stat(root.dir()).map_err(|e| not_found(e, &asked))
        })
        .await
    }

    /// The stat of `path` in the container and a tar stream of it (GET
    /// .../archive); a failure once the stream began ends it.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s, path = %path))]
    pub async fn container_copy_from(
        &self,
        ns: &str,
        s: &str,
        path: &str,
    ) -> Result<(PathStat, ByteStream)> {
        let (abs, asked) = (absolute(path), (s.to_string(), path.to_string()));
        let (stat_tx, stat_rx) = oneshot::channel();
        let (mut w, tx, stream) = ChannelWriter::new();
        let (engine, ns, s) = (self.clone(), ns.to_string(), s.to_string());
        let copy = tokio::spawn(async move {
            engine
                .in_root(&ns, &s, move |root| {
                    let loc = locate(root, &abs, &asked)?;
                    let stat = loc
                        .path_stat(root.dir())
                        .map_err(|e| not_found(e, &asked))?;
                    let top = archive_name(&abs);
                    if stat_tx.send(stat).is_err() {
                        return Ok(());
                    }
                    pack::pack(&loc, Path::new(&top), &mut w)
                        .and_then(|()| w.flush())
                        .map_err(|e| ManagerError::io(format!("archive {abs}"), e))
                })
                .await
        });
        match stat_rx.await {
            Ok(stat) => {
                tokio::spawn(async move {
                    let err = match copy.await {
                        Ok(Ok(())) => return,
                        Ok(Err(e)) => e,
                        Err(e) => ManagerError::Worker(e),
                    };
                    warn!(error = %err, "cp from a container failed");
                    let _ = tx.send(Err(err)).await;
                });
                Ok((stat, stream))
            }
            // No stat: the copy failed before it, with its error.
            Err(_) => Err(match copy.await {
                Ok(Err(e)) => e,
                Ok(Ok(())) => ManagerError::Internal("cp ended before its stat".into()),
                Err(e) => ManagerError::Worker(e),
            }),
        }
    }

    /// Extracts the tar stream `archive` into the directory `req.path` of
    /// the container (PUT .../archive). docker's refusals: a missing
    /// path, one that is not a directory, a read-only rootfs or mount.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s, path = %req.path))]
    pub async fn container_copy_to<S>(
        &self,
        ns: &str,
        s: &str,
        req: CopyTo,
        archive: S,
    ) -> Result<()>
    where
        S: Stream<Item = io::Result<Vec<u8>>> + Send + 'static,
    {
        let reader = ChannelReader::pump(archive);
        let asked = (s.to_string(), req.path.clone());
        // The extraction point is followed to the end (a symlink to a
        // directory is extracted into), as docker's GetResourcePath does.
        let abs = format!("{}/.", absolute(&req.path).trim_end_matches(['/', '.']));
        // `-a` gives everything to the container's user, when it has one
        // (docker's tarCopyOptions); else the archive's ids stay.
        let user = match req.copy_uid_gid {
            true => self.lookup_container(ns, s)?.effective.user,
            false => String::new(),
        };
        self.in_root(ns, s, move |root| {
            let dest = root
                .dir()
                .resolve(Path::new(&abs))
                .map_err(|e| not_found(e, &asked))?;
            if !berth_inroot::is_dir(&dest).map_err(|e| ManagerError::io("stat", e))? {
                return Err(ManagerError::InvalidArgument(
                    "extraction point is not a directory".into(),
                ));
            }
            root.check_writable(&dest)?;
            let dest_path = absolute(&req.path);
            Unpack {
                dest: &dest,
                dest_path: dest_path.trim_end_matches(['/', '.']),
                owner: user_ids(root, &user)?,
            }
            .run(reader)
        })
        .await
    }

    /// Runs `f` on the blocking pool with the container's filesystem
    /// mounted, under its op lock, detached from the request (a client
    /// that goes away never leaves the mount or the lock half held).
    async fn in_root<T, F>(&self, ns: &str, s: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&CopyRoot) -> Result<T> + Send + 'static,
    {
        let rec = self.lookup_container(ns, s)?;
        let (engine, ns) = (self.clone(), ns.to_string());
        detached(async move {
            let handle = engine.registry().handle(&ns, &rec.id);
            let _op = handle.op.lock().await;
            // Read again under the lock: it may have started or stopped.
            let rec = engine.lookup_container(&ns, &rec.id)?;
            let running = handle.task().is_some() && rec.state.running();
            let tmp = engine.config().root.join("tmp");
            let bundle = bundle_dir(engine.config(), &ns, &rec.id).join("rootfs");
            tokio::task::spawn_blocking(move || {
                let rootfs = if running {
                    Rootfs::Bundle(bundle)
                } else {
                    Rootfs::Snapshot(engine.snapshotter().mounts(&rec.snapshot_key)?)
                };
                let root = CopyRoot::mount(&tmp, &rec, rootfs)?;
                f(&root)
            })
            .await
            .map_err(ManagerError::Worker)?
        })
        .await
    }
}

/// Locates the path asked, missing as docker's "Could not find the file".
fn locate(root: &CopyRoot, abs: &str, asked: &(String, String)) -> Result<Located> {
    Located::find(root.dir(), abs).map_err(|e| not_found(e, asked))
}

/// The name the archive's top entry takes: the path's base as asked (`.`
/// for a directory's contents and for `/`).
fn archive_name(abs: &str) -> String {
    match path::base(abs).as_str() {
        "/" => ".".into(),
        b => b.into(),
    }
}

/// docker's error for a path that is not there; others as they are.
fn not_found(e: io::Error, (container, path): &(String, String)) -> ManagerError {
    if berth_inroot::is_missing(&e) {
        return ManagerError::NotFound(format!(
            "Could not find the file {path} in container {container}"
        ));
    }
    ManagerError::io(format!("stat {path} in container {container}"), e)
}

/// The uid and gid of `user` in the container's /etc files; `None` for no
/// user.
fn user_ids(root: &CopyRoot, user: &str) -> Result<Option<(u32, u32)>> {
    if user.is_empty() {
        return Ok(None);
    }
    let (passwd, group) = crate::container::userdb::read_users(root.dir())?;
    let u = crate::container::spec::resolve_user(user, &passwd, &group)?;
    Ok(Some((u.uid, u.gid)))
}
