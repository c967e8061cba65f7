//! What a cgroup v2 path says about who started a process: the systemd
//! service (for processes with no login uid, to show which entry point lacks
//! `pam_loginuid`) and the batch job (Slurm's `.../job_<id>/...`).

/// The systemd unit a process runs in: the first `*.service` component
/// (`/system.slice/cron.service` -> `cron.service`,
/// `/user.slice/user-1000.slice/user@1000.service/app.slice/x` ->
/// `user@1000.service`), else the last `*.scope` component, else `None`.
pub fn service(cgroup: &str) -> Option<&str> {
    let mut parts = cgroup.split('/').filter(|p| !p.is_empty());
    if let Some(s) = parts.clone().find(|p| p.ends_with(".service")) {
        return Some(s);
    }
    parts.rfind(|p| p.ends_with(".scope"))
}

/// The batch job id: the rest of the first component named `job_<id>`.
pub fn job_id(cgroup: &str) -> Option<&str> {
    cgroup
        .split('/')
        .find_map(|p| p.strip_prefix("job_"))
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services() {
        assert_eq!(service("/system.slice/cron.service"), Some("cron.service"));
        assert_eq!(
            service("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope"),
            Some("user@1000.service")
        );
        assert_eq!(
            service("/user.slice/user-1000.slice/session-3.scope"),
            Some("session-3.scope")
        );
        assert_eq!(service("/"), None);
        assert_eq!(service(""), None);
    }

    #[test]
    fn jobs() {
        assert_eq!(
            job_id("/system.slice/slurmstepd.scope/job_4242/step_0/user/task_0"),
            Some("4242")
        );
        assert_eq!(job_id("/system.slice/cron.service"), None);
        assert_eq!(job_id("/x/job_/y"), None);
    }
}
