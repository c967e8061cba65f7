//! Which commands and sessions the report shows. Filters are checked on each
//! exec as it is read, before anything is kept, so a narrow report over a
//! large log stays small.
//!
//! `--command PATTERN` semantics: a pattern with a glob character (`*`, `?`,
//! `[`) must match *whole* either argv\[0\], its base name, the executable
//! path, its base name, or the command line (arguments joined by single
//! spaces, unquoted); `--command 'rm *'` or `--command '*passwd*'`. A pattern
//! without one is a substring of the command line or the executable path;
//! `--command shadow`. Matching is on bytes and case-sensitive.

use std::borrow::Cow;

use crate::event::Timestamp;

/// The selection asked for on the command line, already validated.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Login uid (auid) of the user, or the owner of a batch job whose
    /// processes have none (decided per job once the input is read: see
    /// [`Filter::matches`]).
    pub user: Option<u32>,
    pub session: Option<u32>,
    pub host: Option<String>,
    /// Inclusive.
    pub since: Option<Timestamp>,
    /// Exclusive.
    pub until: Option<Timestamp>,
    pub command: Option<CommandPattern>,
    pub failed: bool,
    pub job: Option<String>,
}

/// The fields of one exec the filter looks at.
#[derive(Debug, Clone, Copy)]
pub struct CommandView<'a> {
    pub host: &'a str,
    pub auid: Option<u32>,
    pub ses: Option<u32>,
    pub time: Timestamp,
    pub argv: &'a [Cow<'a, [u8]>],
    pub exe: Option<&'a [u8]>,
    pub failed: bool,
    pub job: Option<&'a str>,
    /// The job's owner when its cgroup layout names it (`job_uid`).
    pub job_owner: Option<u32>,
}

impl Filter {
    /// Whether the filters only look at sessions (so a session with no
    /// selected command is still worth showing).
    pub fn selects_commands(&self) -> bool {
        self.command.is_some() || self.failed || self.job.is_some()
    }

    /// The login-level part: user, session, host.
    pub fn matches_login(&self, host: &str, auid: Option<u32>, ses: Option<u32>) -> bool {
        (self.user.is_none() || self.user == auid)
            && (self.session.is_none() || self.session == ses)
            && self.host.as_deref().is_none_or(|h| h == host)
    }

    /// Whether [start, end] overlaps [since, until).
    pub fn matches_span(&self, start: Timestamp, end: Option<Timestamp>) -> bool {
        self.until.is_none_or(|u| start < u)
            && self.since.is_none_or(|s| end.is_none_or(|e| e >= s))
    }

    /// Whether the exec is selected. A process of a batch job has no login
    /// uid: for `--user UID` it stays unless its job is known to be someone
    /// else's; whether the job is the user's is decided once the job's
    /// owner is known ([`super::model::Report::retain_job_owner`]).
    pub fn matches(&self, c: &CommandView<'_>) -> bool {
        let job_of_user =
            c.auid.is_none() && c.job.is_some() && c.job_owner.is_none_or(|o| self.user == Some(o));
        (self.matches_login(c.host, c.auid, c.ses)
            || job_of_user && self.matches_login(c.host, self.user, c.ses))
            && self.since.is_none_or(|s| c.time >= s)
            && self.until.is_none_or(|u| c.time < u)
            && (!self.failed || c.failed)
            && self.job.as_deref().is_none_or(|j| c.job == Some(j))
            && self
                .command
                .as_ref()
                .is_none_or(|p| p.matches(c.argv, c.exe))
    }
}

/// `--command PATTERN`, see the module docs.
#[derive(Debug, Clone)]
pub struct CommandPattern {
    pattern: Vec<u8>,
    glob: bool,
}

impl CommandPattern {
    pub fn new(pattern: &str) -> Self {
        Self {
            pattern: pattern.as_bytes().to_vec(),
            glob: pattern.contains(['*', '?', '[']),
        }
    }

    pub fn matches<A: AsRef<[u8]>>(&self, argv: &[A], exe: Option<&[u8]>) -> bool {
        let line = join(argv);
        if !self.glob {
            return contains(&line, &self.pattern)
                || exe.is_some_and(|e| contains(e, &self.pattern));
        }
        let arg0 = argv.first().map(AsRef::as_ref);
        let candidates = [
            arg0,
            arg0.map(basename),
            exe,
            exe.map(basename),
            Some(&line[..]),
        ];
        let found = candidates
            .into_iter()
            .flatten()
            .any(|c| glob_match(&self.pattern, c));
        drop(line);
        found
    }
}

fn join<A: AsRef<[u8]>>(argv: &[A]) -> Vec<u8> {
    let mut line = Vec::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        line.extend_from_slice(a.as_ref());
    }
    line
}

fn basename(p: &[u8]) -> &[u8] {
    p.rsplit(|&b| b == b'/').next().unwrap_or(p)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || memchr::memmem::find(hay, needle).is_some()
}

/// fnmatch(3)-style matching without special treatment of `/`: `*`, `?`,
/// `[abc]`, `[a-z]`, `[!x]`/`[^x]`, and `\` to quote. Linear in practice:
/// it backtracks only to the last `*`.
pub fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p, i));
                p += 1;
                continue;
            }
            Some(b'?') => Some(1),
            Some(b'[') => {
                let (ok, len) = class(&pat[p..], s[i]).unwrap_or((s[i] == b'[', 1));
                Some(if ok { len } else { 0 })
            }
            Some(b'\\') if p + 1 < pat.len() => (pat[p + 1] == s[i]).then_some(2),
            Some(&c) => (c == s[i]).then_some(1),
            None => None,
        };
        match step {
            Some(n) if n > 0 => {
                p += n;
                i += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class at the start of `pat` (`[...]`): returns
/// whether it matched and the class's length, or `None` when unterminated
/// (then `[` is a literal and must equal `c`).
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut j = 1;
    let negate = matches!(pat.get(j), Some(b'!' | b'^'));
    if negate {
        j += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *pat.get(j)?;
        if lo == b']' && !first {
            return Some((matched != negate, j + 1));
        }
        first = false;
        if pat.get(j + 1) == Some(&b'-') && pat.get(j + 2).is_some_and(|&h| h != b']') {
            let hi = pat[j + 2];
            matched |= lo <= c && c <= hi;
            j += 3;
        } else {
            matched |= lo == c;
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<Cow<'static, [u8]>> {
        a.iter()
            .map(|s| Cow::Owned(s.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"rm *", b"rm -rf /"));
        assert!(glob_match(b"*passwd*", b"/usr/bin/passwd alice"));
        assert!(glob_match(b"?s", b"ls"));
        assert!(!glob_match(b"?s", b"lls"));
        assert!(glob_match(b"[a-c]at", b"bat"));
        assert!(!glob_match(b"[!a-c]at", b"bat"));
        assert!(glob_match(b"a\\*", b"a*"));
        assert!(!glob_match(b"a\\*", b"ab"));
        assert!(glob_match(b"[x", b"[x"));
        assert!(glob_match(
            b"*a*a*a*a*b",
            &[b'a'; 40].iter().chain(b"b").copied().collect::<Vec<_>>()
        ));
        assert!(!glob_match(b"*a*a*a*a*c", &[b'a'; 2000]));
    }

    #[test]
    fn command_patterns() {
        let sudo = argv(&["sudo", "-i"]);
        assert!(CommandPattern::new("sudo").matches(&sudo, None));
        assert!(CommandPattern::new("do -i").matches(&sudo, None));
        assert!(CommandPattern::new("sud?").matches(&sudo, None));
        assert!(!CommandPattern::new("su").matches(&argv(&["ls"]), Some(b"/bin/ls")));
        assert!(CommandPattern::new("ls").matches(&argv(&["x"]), Some(b"/bin/ls")));
        assert!(CommandPattern::new("ls").matches(&argv(&["/bin/ls", "-l"]), None));
        assert!(CommandPattern::new("l?").matches(&argv(&["/bin/ls", "-l"]), None));
        assert!(!CommandPattern::new("l?").matches(&argv(&["/bin/lsblk"]), None));
    }

    #[test]
    fn filters() {
        let a = argv(&["id"]);
        let v = CommandView {
            host: "h",
            auid: Some(1000),
            ses: Some(3),
            time: Timestamp(100),
            argv: &a,
            exe: None,
            failed: false,
            job: None,
            job_owner: None,
        };
        let f = Filter::default();
        assert!(f.matches(&v));
        // A job's process (no login uid): kept for the job's owner, or for
        // anyone while the owner is not known yet; never for a session.
        let user = |u: u32| Filter {
            user: Some(u),
            ..Filter::default()
        };
        let in_job = |owner: Option<u32>| CommandView {
            auid: None,
            ses: None,
            job: Some("7"),
            job_owner: owner,
            ..v
        };
        assert!(user(1000).matches(&in_job(Some(1000))));
        assert!(!user(1001).matches(&in_job(Some(1000))));
        assert!(user(1001).matches(&in_job(None)));
        assert!(!user(1000).matches(&CommandView {
            job: None,
            ..in_job(None)
        }));
        let in_session = Filter {
            session: Some(3),
            ..user(1000)
        };
        assert!(!in_session.matches(&in_job(Some(1000))));
        let f = Filter {
            user: Some(1000),
            session: Some(3),
            host: Some("h".into()),
            ..Filter::default()
        };
        assert!(f.matches(&v));
        assert!(!Filter {
            user: Some(0),
            ..Filter::default()
        }
        .matches(&v));
        assert!(!Filter {
            failed: true,
            ..Filter::default()
        }
        .matches(&v));
        assert!(!Filter {
            job: Some("1".into()),
            ..Filter::default()
        }
        .matches(&v));
        assert!(Filter {
            since: Some(Timestamp(100)),
            until: Some(Timestamp(101)),
            ..Filter::default()
        }
        .matches(&v));
        assert!(!Filter {
            until: Some(Timestamp(100)),
            ..Filter::default()
        }
        .matches(&v));
        let f = Filter {
            since: Some(Timestamp(50)),
            ..Filter::default()
        };
        assert!(f.matches_span(Timestamp(0), None));
        assert!(!f.matches_span(Timestamp(0), Some(Timestamp(49))));
    }
}
