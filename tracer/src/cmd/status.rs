//! `tracer status`: read the daemon's state file and say whether it runs.
//! Exit codes follow `systemctl status`: 0 running, 3 not running.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::status::StatusArgs;
use crate::config;
use crate::event::Timestamp;
use crate::status::{self, Liveness, StatusError};

pub fn status(a: &StatusArgs) -> anyhow::Result<ExitCode> {
    let path = match &a.status_file {
        Some(p) => p.clone(),
        None => config::load(a.config.as_deref())?.config.daemon.status_file,
    };
    let s = match status::read(&path) {
        Ok(s) => s,
        Err(e @ StatusError::Missing { .. }) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"state": "not_running", "error": e.to_string()})
                );
            } else {
                println!("tracer: {e}");
            }
            return Ok(ExitCode::from(3));
        }
        Err(e) => return Err(e).context("tracer status"),
    };
    let live = status::liveness(&s);
    // The shipper (`tracer ship`) keeps its state file beside the daemon's.
    let ship = path
        .parent()
        .map(|d| d.join("ship.json"))
        .and_then(|p| crate::fleet::ship::read_status(&p));
    if a.json {
        let mut v = serde_json::to_value(&s)?;
        v["state"] = match live {
            Liveness::Running => "running",
            Liveness::Stopped => "stopped",
            Liveness::Dead => "dead",
        }
        .into();
        if let Some(sh) = &ship {
            v["ship"] = serde_json::to_value(sh)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", status::render(&s, live, Timestamp::now()));
        if let Some(sh) = &ship {
            print!(
                "{}",
                crate::fleet::ship::render_status(sh, Timestamp::now())
            );
        }
    }
    Ok(if live == Liveness::Running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
