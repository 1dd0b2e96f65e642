//! `berth top`: the container's processes, as docker prints them.

use berth_proto::v1::{TopContainerRequest, TopContainerResponse};

use super::super::{print, Ctx};
use crate::cli::TopArgs;
use crate::error::CliError;
use crate::format::Table;

/// docker top's tabwriter minimum column width.
const TOP_MIN_WIDTH: usize = 20;

pub async fn top(ctx: &Ctx, args: &TopArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let response = client
        .containers()
        .top(TopContainerRequest {
            id: args.container.clone(),
            ps_args: args.ps_args.clone(),
        })
        .await?
        .into_inner();
    print(&render(&response))
}

fn render(top: &TopContainerResponse) -> String {
    let titles: Vec<&str> = top.titles.iter().map(String::as_str).collect();
    let mut table = Table::with_min_width(&titles, TOP_MIN_WIDTH);
    for row in &top.processes {
        table.push(row.fields.clone());
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_proto::v1::TopRow;

    #[test]
    fn twenty_wide_columns() {
        let top = TopContainerResponse {
            titles: vec!["UID".into(), "PID".into(), "CMD".into()],
            processes: vec![TopRow {
                fields: vec!["root".into(), "4242".into(), "sleep 1000".into()],
            }],
        };
        assert_eq!(
            render(&top),
            format!(
                "UID{}PID{}CMD\nroot{}4242{}sleep 1000\n",
                " ".repeat(17),
                " ".repeat(17),
                " ".repeat(16),
                " ".repeat(16)
            )
        );
    }
}
