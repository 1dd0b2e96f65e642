//! `berth inspect`: containers, images and volumes, as docker shows them.
//! A name is tried as a container first, then as an image, then as a
//! volume (unless `--type` says which); `container inspect` and `image
//! inspect` look for one kind only.
//! Without `--format` the output is a JSON array indented with four spaces;
//! with it, each object goes through the Go template (`json` is the array).
//! Image objects are shaped here from berthd's ImageDetail (the raw config
//! and manifest travel as bytes); container objects come from berthd
//! already docker-shaped.

use std::collections::HashMap;

use berth_proto::v1::{Descriptor, GetImageRequest, ImageDetail, InspectContainerRequest};
use serde::Serialize;
use serde_json::Value;
use tonic::Code;

use super::{print, report, volume, Ctx};
use crate::cli::{InspectArgs, ObjectType};
use crate::client::Client;
use crate::error::CliError;
use crate::template::{Json, Template};

pub async fn inspect(ctx: &Ctx, args: &InspectArgs) -> Result<(), CliError> {
    let template = template(args.format.as_deref())?;
    let client = ctx.connect().await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match lookup(&client, name, args.kind, args.size).await {
            Ok(object) => found.push(object),
            Err(e) => errors.push(e),
        }
    }
    finish(&found, &errors, template.as_ref())
}

/// Like docker: what was found (maybe "[]"), then the errors; a failure
/// if any name was not found.
pub fn finish(
    found: &[Json],
    errors: &[CliError],
    template: Option<&Template>,
) -> Result<(), CliError> {
    print(&render(found, template)?)?;
    if errors.is_empty() {
        return Ok(());
    }
    errors.iter().for_each(report);
    Err(CliError::Reported)
}

/// The object `name` names: a container, else an image, else a volume
/// (docker's order), or only the kind `--type` asks for.
async fn lookup(
    client: &Client,
    name: &str,
    kind: Option<ObjectType>,
    size: bool,
) -> Result<Json, CliError> {
    let any = kind.is_none();
    if any || kind == Some(ObjectType::Container) {
        if let Some(object) = container_object(client, name, size, any).await? {
            return Ok(object);
        }
    }
    if any || kind == Some(ObjectType::Image) {
        if let Some(object) = image_object(client, name, any).await? {
            return Ok(object);
        }
    }
    match volume::inspect_one(client, name).await {
        Ok(object) => Ok(object),
        // A berthd without the volumes service has no volume of that name.
        Err(CliError::Status(s)) if matches!(s.code(), Code::NotFound | Code::Unimplemented) => {
            Err(CliError::Invalid(match any {
                true => format!("No such object: {name}"),
                false => format!("No such volume: {name}"),
            }))
        }
        Err(e) => Err(e),
    }
}

/// The container `name`; None when there is none and other kinds may be
/// tried (`fall_through`).
async fn container_object(
    client: &Client,
    name: &str,
    size: bool,
    fall_through: bool,
) -> Result<Option<Json>, CliError> {
    let request = InspectContainerRequest {
        id: name.to_owned(),
        size,
    };
    match client.containers().inspect(request).await {
        Ok(r) => Json::parse(&r.into_inner().json)
            .map(Some)
            .map_err(|source| CliError::Json {
                context: format!("container {name}: bad inspect JSON"),
                source,
            }),
        // Not a container (or a daemon without containers): maybe another kind.
        Err(s) if fall_through && matches!(s.code(), Code::NotFound | Code::Unimplemented) => {
            Ok(None)
        }
        Err(s) => Err(s.into()),
    }
}

/// The image `name`; None when there is none and other kinds may be tried.
async fn image_object(
    client: &Client,
    name: &str,
    fall_through: bool,
) -> Result<Option<Json>, CliError> {
    let request = GetImageRequest {
        reference: name.to_owned(),
    };
    match client.images().get(request).await {
        Ok(d) => {
            let object = inspect_object(&d.into_inner())?;
            Json::from_serialize(&object)
                .map(Some)
                .map_err(|source| CliError::Json {
                    context: "encode inspect output".into(),
                    source,
                })
        }
        Err(s) if fall_through && s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(s.into()),
    }
}

/// `--format` of the inspect verbs: none (or "json") prints the array.
pub fn template(format: Option<&str>) -> Result<Option<Template>, CliError> {
    match format {
        None | Some("") | Some("json") => Ok(None),
        Some(source) => Ok(Some(Template::parse(source)?)),
    }
}

/// The array indented with four spaces, or each object through the
/// template on its own line.
pub fn render(objects: &[Json], template: Option<&Template>) -> Result<String, CliError> {
    let Some(template) = template else {
        let mut out = Json::Array(objects.to_vec()).to_pretty();
        out.push('\n');
        return Ok(out);
    };
    let mut out = String::new();
    for object in objects {
        out.push_str(&template.render(object)?);
        out.push('\n');
    }
    Ok(out)
}

/// One element of the inspect array, fields in docker's order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectImage {
    id: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    parent: String,
    comment: String,
    created: String,
    author: String,
    config: ContainerConfig,
    architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    variant: String,
    os: String,
    size: i64,
    #[serde(rename = "RootFS")]
    root_fs: RootFs,
    metadata: HashMap<String, String>,
    descriptor: OciDescriptor,
    oci_config: Value,
}

/// The parts of the OCI config's "config" object docker shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    env: Value,
    cmd: Value,
    entrypoint: Value,
    working_dir: Value,
    user: Value,
    exposed_ports: Value,
    labels: Value,
    volumes: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    stop_signal: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RootFs {
    #[serde(rename = "Type")]
    kind: String,
    layers: Vec<String>,
}

/// An OCI descriptor as JSON spells it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OciDescriptor {
    media_type: String,
    digest: String,
    size: i64,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    annotations: HashMap<String, String>,
}

impl From<&Descriptor> for OciDescriptor {
    fn from(d: &Descriptor) -> Self {
        OciDescriptor {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            annotations: d.annotations.clone(),
        }
    }
}

/// Parses an image's raw config JSON ("" counts as `{}`).
pub fn parse_config(detail: &ImageDetail) -> Result<Value, CliError> {
    if detail.config_json.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(&detail.config_json).map_err(|source| CliError::Json {
        context: format!("image {}: bad config JSON", detail.id),
        source,
    })
}

fn string_at(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub fn inspect_object(detail: &ImageDetail) -> Result<InspectImage, CliError> {
    let config = parse_config(detail)?;
    let container = config.get("config").cloned().unwrap_or(Value::Null);
    let field = |key: &str| container.get(key).cloned().unwrap_or(Value::Null);
    let text_field = |key: &str| Value::String(string_at(&container, key));

    // Docker keeps the commit message in the config's "comment"; images
    // without one carry it only in their last history entry.
    let comment = match config.get("comment").and_then(Value::as_str) {
        Some(c) => c.to_owned(),
        None => config
            .get("history")
            .and_then(Value::as_array)
            .and_then(|h| h.last())
            .map(|last| string_at(last, "comment"))
            .unwrap_or_default(),
    };
    let diff_ids: Vec<String> = match config.pointer("/rootfs/diff_ids").and_then(Value::as_array) {
        Some(ids) => ids
            .iter()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect(),
        None => detail.layers.iter().map(|l| l.diff_id.clone()).collect(),
    };
    Ok(InspectImage {
        id: detail.id.clone(),
        repo_tags: detail.repo_tags.clone(),
        repo_digests: detail.repo_digests.clone(),
        parent: String::new(),
        comment,
        created: string_at(&config, "created"),
        author: string_at(&config, "author"),
        config: ContainerConfig {
            env: field("Env"),
            cmd: field("Cmd"),
            entrypoint: field("Entrypoint"),
            working_dir: text_field("WorkingDir"),
            user: text_field("User"),
            exposed_ports: field("ExposedPorts"),
            labels: field("Labels"),
            volumes: field("Volumes"),
            stop_signal: field("StopSignal"),
        },
        architecture: string_at(&config, "architecture"),
        variant: string_at(&config, "variant"),
        os: string_at(&config, "os"),
        size: detail.size,
        root_fs: RootFs {
            kind: "layers".into(),
            layers: diff_ids,
        },
        metadata: HashMap::new(),
        descriptor: detail
            .manifest
            .as_ref()
            .map(OciDescriptor::from)
            .unwrap_or_else(|| OciDescriptor::from(&Descriptor::default())),
        oci_config: config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail() -> ImageDetail {
        let config = serde_json::json!({
            "created": "2024-05-01T10:00:00Z",
            "author": "me",
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/w"},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:d1"]},
            "history": [{"created_by": "ADD x", "comment": "imported"}]
        });
        ImageDetail {
            id: "sha256:abc".into(),
            repo_tags: vec!["busybox:latest".into()],
            manifest: Some(Descriptor {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                digest: "sha256:m".into(),
                size: 400,
                annotations: Default::default(),
            }),
            config_json: serde_json::to_vec(&config).unwrap(),
            size: 1234,
            ..Default::default()
        }
    }

    fn image(d: &ImageDetail) -> Json {
        Json::from_serialize(&inspect_object(d).unwrap()).unwrap()
    }

    #[test]
    fn docker_shaped_object() {
        let out = render(&[image(&detail())], None).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        let o = &v[0];
        assert_eq!(o["Id"], "sha256:abc");
        assert_eq!(o["RepoTags"][0], "busybox:latest");
        assert_eq!(o["RepoDigests"], serde_json::json!([]));
        assert_eq!(o["Parent"], "");
        assert_eq!(o["Comment"], "imported");
        assert_eq!(o["Created"], "2024-05-01T10:00:00Z");
        assert_eq!(o["Author"], "me");
        assert_eq!(o["Config"]["Cmd"][0], "sh");
        assert_eq!(o["Config"]["WorkingDir"], "/w");
        assert_eq!(o["Config"]["User"], "");
        assert_eq!(o["Config"]["Entrypoint"], Value::Null);
        assert_eq!(o["Architecture"], "amd64");
        assert_eq!(o["Os"], "linux");
        assert!(o.get("Variant").is_none());
        assert_eq!(o["Size"], 1234);
        assert_eq!(o["RootFS"]["Type"], "layers");
        assert_eq!(o["RootFS"]["Layers"][0], "sha256:d1");
        assert_eq!(o["Metadata"], serde_json::json!({}));
        assert_eq!(o["Descriptor"]["digest"], "sha256:m");
        assert_eq!(
            o["Descriptor"]["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(o["OciConfig"]["rootfs"]["type"], "layers");
        // Four-space indentation, like docker.
        assert!(out.starts_with("[\n    {\n        \"Id\""), "{out}");
    }

    #[test]
    fn empty_array_when_nothing_found() {
        assert_eq!(render(&[], None).unwrap(), "[]\n");
    }

    #[test]
    fn templates_run_per_object() {
        let container = Json::parse(
            r#"{"Id":"c1","Name":"/web","State":{"Status":"running","Running":true,"ExitCode":0}}"#,
        )
        .unwrap();
        let t = |s| Template::parse(s).unwrap();
        let objects = [container.clone(), image(&detail())];
        assert_eq!(
            render(&objects, Some(&t("{{.Id}}"))).unwrap(),
            "c1\nsha256:abc\n"
        );
        assert_eq!(
            render(
                &objects[..1],
                Some(&t("{{.State.Status}} {{.State.ExitCode}} {{.Name}}"))
            )
            .unwrap(),
            "running 0 /web\n"
        );
        assert_eq!(
            render(&objects[..1], Some(&t("{{json .State}}"))).unwrap(),
            "{\"Status\":\"running\",\"Running\":true,\"ExitCode\":0}\n"
        );
        // Container objects keep berthd's key order in the array form.
        let out = render(&objects[..1], None).unwrap();
        assert!(
            out.starts_with("[\n    {\n        \"Id\": \"c1\",\n        \"Name\""),
            "{out}"
        );
    }

    #[test]
    fn bad_config_is_an_error_not_a_panic() {
        let mut d = detail();
        d.config_json = b"{not json".to_vec();
        let err = inspect_object(&d).unwrap_err().to_string();
        assert!(
            err.starts_with("image sha256:abc: bad config JSON"),
            "{err}"
        );
    }
}
