//! `berth namespace ls|create|rm`.

use berth_proto::v1::{
    CreateNamespaceRequest, DeleteNamespaceRequest, ListNamespacesRequest, Namespace,
};

use super::{print, report, Ctx};
use crate::cli::{NamespaceCreateArgs, NamespaceLsArgs, NamespaceRmArgs};
use crate::error::CliError;
use crate::format::Table;

pub async fn ls(ctx: &Ctx, args: &NamespaceLsArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let namespaces = client
        .namespaces()
        .list(ListNamespacesRequest {})
        .await?
        .into_inner()
        .namespaces;
    print(&render(&namespaces, args.quiet))
}

fn render(namespaces: &[Namespace], quiet: bool) -> String {
    if quiet {
        return namespaces.iter().map(|n| format!("{}\n", n.name)).collect();
    }
    let mut table = Table::new(&["NAME"]);
    for ns in namespaces {
        table.push(vec![ns.name.clone()]);
    }
    table.render()
}

pub async fn create(ctx: &Ctx, args: &NamespaceCreateArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let created = client
        .namespaces()
        .create(CreateNamespaceRequest {
            name: args.name.clone(),
            labels: Default::default(),
        })
        .await?
        .into_inner();
    print(&format!("{}\n", created.name))
}

/// Removes each namespace in turn, reporting failures and going on, as
/// `docker rm` does with several names.
pub async fn rm(ctx: &Ctx, args: &NamespaceRmArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let mut namespaces = client.namespaces();
    let mut failed = false;
    for name in &args.names {
        match namespaces
            .delete(DeleteNamespaceRequest { name: name.clone() })
            .await
        {
            Ok(_) => print(&format!("{name}\n"))?,
            Err(status) => {
                report(&status.into());
                failed = true;
            }
        }
    }
    super::after_reports(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str) -> Namespace {
        Namespace {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn listing() {
        let list = [ns("default"), ns("k8s.io")];
        assert_eq!(render(&list, false), "NAME\ndefault\nk8s.io\n");
        assert_eq!(render(&list, true), "default\nk8s.io\n");
    }
}
