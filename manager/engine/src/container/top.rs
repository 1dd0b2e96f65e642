//! `top`: the container's processes as the host's `ps` shows them. The
//! shim lists the pids in the container's cgroup; `ps` runs on the host
//! with the user's arguments (default `-ef`); its header is kept and its
//! rows are kept when their PID column is one of those pids (docker's
//! parsing, thread rows of a kept process included).

use std::process::Stdio;

use crate::container::Containers;
use crate::error::{ManagerError, Result};

/// `ps`'s header and the container's rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// Keeps `ps` rows whose PID is in `pids`; the last column takes the rest
/// of the line (commands have spaces).
pub fn parse_ps(output: &str, pids: &[u32]) -> Result<Top> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        ManagerError::InvalidArgument("Couldn't find PID field in ps output".into())
    })?;
    let mut processes = Vec::new();
    let mut kept_previous = false;
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let Some(pid) = fields.get(pid_col) else {
            continue;
        };
        // `ps -m` prints a process's threads on rows with PID "-".
        let keep = if *pid == "-" {
            kept_previous
        } else {
            let p: u32 = pid.parse().map_err(|_| {
                ManagerError::InvalidArgument(format!("Unexpected pid '{pid}' in ps output"))
            })?;
            kept_previous = pids.contains(&p);
            kept_previous
        };
        if keep {
            let n = titles.len().max(1);
            let mut row: Vec<String> = fields.iter().take(n - 1).map(|f| f.to_string()).collect();
            if fields.len() >= n {
                row.push(fields[n - 1..].join(" "));
            }
            processes.push(row);
        }
    }
    Ok(Top { titles, processes })
}

impl Containers {
    /// The processes of a running container.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn top_container(&self, ns: &str, s: &str, ps_args: &[String]) -> Result<Top> {
        let (_, task) = self.running_container(ns, s)?;
        let pids = task.pids().await?;
        let args: Vec<String> = if ps_args.iter().all(|a| a.trim().is_empty()) {
            vec!["-ef".to_string()]
        } else {
            ps_args
                .iter()
                .flat_map(|a| a.split_whitespace())
                .map(str::to_string)
                .collect()
        };
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| ManagerError::io("run ps", e))?;
        if !out.status.success() {
            return Err(ManagerError::InvalidArgument(format!(
                "ps {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_the_container_only() {
        let out = "\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        4242    4200  0 10:01 ?        00:00:00 sleep 1000
root        4243    4242  0 10:01 ?        00:00:00 sh -c echo hi there
";
        let t = parse_ps(out, &[4242, 4243]).unwrap();
        assert_eq!(
            t.titles,
            ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        );
        assert_eq!(t.processes.len(), 2);
        assert_eq!(t.processes[0][1], "4242");
        assert_eq!(t.processes[0][7], "sleep 1000");
        assert_eq!(t.processes[1][7], "sh -c echo hi there");
        assert!(parse_ps(out, &[]).unwrap().processes.is_empty());
    }

    #[test]
    fn thread_rows_and_errors() {
        let out = "\
  PID TTY      STAT   TIME COMMAND
   10 ?        -      0:00 app
    - -        Sl     0:00 -
   11 ?        -      0:00 other
    - -        Sl     0:00 -
";
        let t = parse_ps(out, &[10]).unwrap();
        assert_eq!(t.processes.len(), 2);
        assert_eq!(t.processes[1][0], "-");
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_err());
        assert!(parse_ps("PID CMD\nabc x\n", &[1]).is_err());
    }
}
