//! `berth cp`: files between a container and the local filesystem, as
//! docker-cli 20.10 does it (nothing printed on success; errors exit 1).
//!
//! The daemon stats paths and streams tar archives (Containers.StatPath,
//! CopyFrom, CopyTo); this side decides, with docker's archive rules
//! ([`archive`]), which directory an archive is extracted into and which
//! name its top entry takes, packs a local source and unpacks a
//! container's archive, on blocking threads fed through bounded channels.

mod archive;

use std::io::{self, IsTerminal, Read};
use std::sync::mpsc as std_mpsc;

use berth_proto::v1::{
    copy_from_response, copy_to_input, CopyFromRequest, CopyToHeader, CopyToInput, PathStat,
    StatPathRequest,
};
use tokio_stream::StreamExt;

use self::archive::CopyInfo;
use super::super::Ctx;
use crate::cli::CpArgs;
use crate::client::Client;
use crate::error::CliError;
use crate::stream;

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// One side of a copy: a container's path or a local one.
fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c), p),
        _ => (None, arg),
    }
}

pub async fn cp(ctx: &Ctx, args: &CpArgs) -> Result<(), CliError> {
    let (src_c, src) = split_cp_arg(&args.source);
    let (dst_c, dst) = split_cp_arg(&args.destination);
    match (src_c, dst_c) {
        (Some(c), None) => copy_from(ctx, args, c, src, dst).await,
        (None, Some(c)) => copy_to(ctx, args, c, src, dst).await,
        (Some(_), Some(_)) => Err(CliError::Cp(
            "copying between containers is not supported".into(),
        )),
        (None, None) => Err(CliError::Cp(
            "must specify at least one container source".into(),
        )),
    }
}

/// A daemon's refusal as docker-cli shows a cp's: a missing container or
/// path is "No such container:path", the rest the daemon's own words.
fn refusal(status: tonic::Status, container: &str, path: &str) -> CliError {
    if status.code() == tonic::Code::NotFound {
        return CliError::Cp(format!("Error: No such container:path: {container}:{path}"));
    }
    CliError::Daemon(status)
}

async fn stat(client: &Client, container: &str, path: &str) -> Result<PathStat, tonic::Status> {
    let r = client
        .containers()
        .stat_path(StatPathRequest {
            id: container.into(),
            path: path.into(),
        })
        .await?;
    Ok(r.into_inner())
}

fn kind(s: &PathStat) -> u32 {
    s.mode & S_IFMT
}

async fn copy_from(
    ctx: &Ctx,
    args: &CpArgs,
    container: &str,
    src: &str,
    dst: &str,
) -> Result<(), CliError> {
    let dst = output_path(dst)?;
    let client = ctx.connect().await?;
    let (src_path, rebase) = match args.follow_link {
        true => followed(&client, container, src).await,
        false => (src.to_string(), None),
    };
    let mut msgs = client
        .containers()
        .copy_from(CopyFromRequest {
            id: container.into(),
            path: src_path.clone(),
        })
        .await
        .map_err(|s| refusal(s, container, &src_path))?
        .into_inner();
    let stat = first_stat(&mut msgs, container, &src_path).await?;
    let (tx, rx) = std_mpsc::sync_channel::<Vec<u8>>(8);
    let sink = if dst == "-" {
        tokio::task::spawn_blocking(move || to_stdout(ChunkReader::new(rx)))
    } else {
        // The root is archived as ".", its contents.
        let path = match archive::clean(&src_path).as_str() {
            "/" | "." => "/.".to_string(),
            _ => src_path.clone(),
        };
        let src_info = CopyInfo {
            path,
            exists: true,
            is_dir: kind(&stat) == S_IFDIR,
            rebase_name: rebase,
        };
        tokio::task::spawn_blocking(move || extract_local(ChunkReader::new(rx), &src_info, &dst))
    };
    let pumped = pump_chunks(&mut msgs, tx).await;
    let written = sink
        .await
        .map_err(|e| CliError::Invalid(format!("cp: {e}")))?;
    pumped.map_err(|s| refusal(s, container, &src_path))?;
    written
}

/// The local destination of a copy out: "-" or an absolute path whose
/// directory exists; never a terminal for the tar.
fn output_path(dst: &str) -> Result<String, CliError> {
    if dst != "-" {
        let dst = archive::absolute_local(dst)?;
        validate_output_path(&dst)?;
        return Ok(dst);
    }
    if io::stdout().is_terminal() {
        // docker writes the tar to a terminal; nobody wants that.
        return Err(CliError::Invalid(
            "refusing to write a tar archive to a terminal: redirect stdout".into(),
        ));
    }
    Ok(dst.to_string())
}

/// `-L`: a symlink at the source is copied as its target, under the
/// link's name (the path to ask for and the name to give its top entry).
async fn followed(client: &Client, container: &str, src: &str) -> (String, Option<String>) {
    match stat(client, container, src).await {
        Ok(s) if kind(&s) == S_IFLNK => archive::rebase_name(src, &s.link_target),
        _ => (src.to_string(), None),
    }
}

/// The stat berthd sends before the archive of `src` (its refusal worded
/// as docker's).
async fn first_stat(
    msgs: &mut tonic::Streaming<berth_proto::v1::CopyFromResponse>,
    container: &str,
    src: &str,
) -> Result<PathStat, CliError> {
    match msgs.next().await {
        Some(Ok(m)) => match m.payload {
            Some(copy_from_response::Payload::Stat(s)) => Ok(s),
            _ => Err(CliError::Invalid(
                "cp: the daemon sent no stat first".into(),
            )),
        },
        Some(Err(s)) => Err(refusal(s, container, src)),
        None => Err(CliError::Invalid("cp: the daemon sent nothing".into())),
    }
}

/// The archive's chunks into the blocking side until the end (or until
/// the blocking side stopped reading: its error is the one to report).
async fn pump_chunks(
    msgs: &mut tonic::Streaming<berth_proto::v1::CopyFromResponse>,
    tx: std_mpsc::SyncSender<Vec<u8>>,
) -> Result<(), tonic::Status> {
    while let Some(m) = msgs.next().await {
        let Some(copy_from_response::Payload::Data(d)) = m?.payload else {
            continue;
        };
        let tx = tx.clone();
        let sent = tokio::task::spawn_blocking(move || tx.send(d).is_ok()).await;
        if !matches!(sent, Ok(true)) {
            break;
        }
    }
    Ok(())
}

fn to_stdout(mut r: ChunkReader) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    io::copy(&mut r, &mut out).map_err(|e| CliError::io("write to stdout", e))?;
    Ok(())
}

fn extract_local(r: ChunkReader, src: &CopyInfo, dst: &str) -> Result<(), CliError> {
    let dst_info = archive::destination_info(dst)?;
    let (dir, new) = archive::prepare(src, &dst_info)?;
    // The daemon names the top entry by the path's base as asked.
    let old = archive::split_path_dir_entry(&src.path).1;
    archive::unpack(r, &dir, &old, &new)
}

/// docker's check that a local output path can be written.
fn validate_output_path(path: &str) -> Result<(), CliError> {
    let dir = archive::split_path_dir_entry(&archive::clean(path)).0;
    if std::fs::metadata(&dir).is_err() {
        return Err(CliError::Cp(format!(
            "invalid output path: directory {dir:?} does not exist"
        )));
    }
    match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() && !m.is_file() => Err(CliError::Cp(format!(
            "invalid output path: {path:?} must be a directory or a regular file"
        ))),
        _ => Ok(()),
    }
}

async fn copy_to(
    ctx: &Ctx,
    args: &CpArgs,
    container: &str,
    src: &str,
    dst: &str,
) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let (dst_info, found) = destination(&client, container, dst).await?;
    if found
        .as_ref()
        .is_some_and(|s| ![S_IFDIR, S_IFREG].contains(&kind(s)))
    {
        return Err(CliError::Cp(format!(
            "destination \"{container}:{dst}\" must be a directory or a regular file"
        )));
    }
    let (path, source): (String, stream::Source) = if src == "-" {
        if !dst_info.is_dir {
            return Err(CliError::Cp(format!(
                "destination \"{container}:{dst}\" must be a directory"
            )));
        }
        let stdin =
            stream::open_stdin("refusing to read a tar archive from a terminal: redirect stdin")?;
        (dst_info.path.clone(), stdin)
    } else {
        let src_info = archive::source_info(src, args.follow_link)?;
        let (dir, top) = archive::prepare(&src_info, &dst_info)?;
        (dir, packed(src_info, top)?)
    };
    let header = CopyToInput {
        payload: Some(copy_to_input::Payload::Header(CopyToHeader {
            id: container.into(),
            path: path.clone(),
            copy_uid_gid: args.archive,
        })),
    };
    let mut containers = client.containers();
    stream::upload(
        source,
        Some(header),
        |d| CopyToInput {
            payload: Some(copy_to_input::Payload::Data(d)),
        },
        |chunks| containers.copy_to(chunks),
    )
    .await
    .map_err(|e| match e {
        CliError::Status(s) => refusal(s, container, &path),
        e => e,
    })?;
    Ok(())
}

/// What the destination is in the container (a symlink followed once, to
/// its target resolved inside the container); missing is fine.
async fn destination(
    client: &Client,
    container: &str,
    dst: &str,
) -> Result<(CopyInfo, Option<PathStat>), CliError> {
    let mut info = CopyInfo {
        path: dst.to_string(),
        ..Default::default()
    };
    let mut found = stat(client, container, dst).await;
    if let Ok(s) = &found {
        if kind(s) == S_IFLNK {
            info.path = s.link_target.clone();
            found = stat(client, container, &info.path).await;
        }
    }
    match found {
        Ok(s) => {
            info.exists = true;
            info.is_dir = kind(&s) == S_IFDIR;
            Ok((info, Some(s)))
        }
        // As docker: assume the parent exists; the copy's own answer says
        // what is missing (the container, or the directory).
        Err(_) => Ok((info, None)),
    }
}

/// A tar of the local source written by a blocking thread into a pipe the
/// upload reads.
fn packed(src: CopyInfo, top: String) -> Result<stream::Source, CliError> {
    let (reader, writer) = io::pipe().map_err(|e| CliError::io("pipe", e))?;
    std::thread::spawn(move || {
        // A broken pipe is the call ending first: its answer is the error.
        match archive::pack(&src, &top, writer) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                eprintln!("Error: archive {}: {e}", src.path)
            }
            _ => {}
        }
    });
    let file = std::fs::File::from(std::os::fd::OwnedFd::from(reader));
    Ok(Box::new(tokio::fs::File::from_std(file)))
}

/// A blocking reader of the chunks an async task hands over.
struct ChunkReader {
    rx: std_mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    fn new(rx: std_mpsc::Receiver<Vec<u8>>) -> Self {
        ChunkReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(v) => (self.cur, self.pos) = (v, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_splits_cp_args() {
        assert_eq!(split_cp_arg("c1:/etc"), (Some("c1"), "/etc"));
        assert_eq!(split_cp_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(split_cp_arg("./file:name"), (None, "./file:name"));
        assert_eq!(split_cp_arg("local"), (None, "local"));
        assert_eq!(split_cp_arg("c1:"), (Some("c1"), ""));
        assert_eq!(split_cp_arg("-"), (None, "-"));
    }
}
