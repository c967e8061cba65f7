//! uid -> user name through the system's name service (NSS: `/etc/passwd`,
//! and SSSD/LDAP where `nsswitch.conf` says so), for the session records of
//! `tracer run`: a log shipped to a central host then names its users as the
//! node knew them, not as the reading host does.
//!
//! A lookup may block for as long as the directory takes to answer (SSSD
//! over the network), so [`NameCache`] never calls NSS on the caller's
//! thread: a miss queues the uid for a helper thread and answers `None`;
//! the name is there for the next record of that user. Answers, including
//! "no such user", are kept for [`TTL`].

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

/// How long an answer is kept (names rarely change; new users appear).
pub const TTL: Duration = Duration::from_secs(600);

/// The name of `uid`, asking NSS (blocking).
pub fn lookup(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `pwd` and `result` are out-parameters written by
        // getpwuid_r; `buf` is valid for `buf.len()` bytes and outlives the
        // use of the strings it points into (copied out below).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success pw_name points to a NUL-terminated string in `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

/// A cache of [`lookup`] answers filled by a helper thread.
pub struct NameCache {
    known: HashMap<u32, (Option<String>, Instant)>,
    asked: HashMap<u32, Instant>,
    ask: Sender<u32>,
    answers: Receiver<(u32, Option<String>)>,
}

impl NameCache {
    /// Starts the lookup thread (it ends when the cache is dropped).
    pub fn spawn() -> Self {
        Self::with_resolver(lookup)
    }

    /// With another resolver (tests).
    pub fn with_resolver(resolve: fn(u32) -> Option<String>) -> Self {
        let (ask, questions) = channel::<u32>();
        let (reply, answers) = channel();
        let _ = std::thread::Builder::new()
            .name("tracer-names".into())
            .spawn(move || {
                for uid in questions {
                    if reply.send((uid, resolve(uid))).is_err() {
                        break;
                    }
                }
            });
        Self {
            known: HashMap::new(),
            asked: HashMap::new(),
            ask,
            answers,
        }
    }

    /// The name of `uid` if known now; otherwise asks for it and says `None`.
    pub fn get(&mut self, uid: u32) -> Option<String> {
        let now = Instant::now();
        while let Ok((u, name)) = self.answers.try_recv() {
            self.asked.remove(&u);
            self.known.insert(u, (name, now));
        }
        if let Some((name, at)) = self.known.get(&uid) {
            if now.duration_since(*at) < TTL {
                return name.clone();
            }
        }
        let pending = self
            .asked
            .get(&uid)
            .is_some_and(|at| now.duration_since(*at) < TTL);
        if !pending && self.ask.send(uid).is_ok() {
            self.asked.insert(uid, now);
        }
        self.known.get(&uid).and_then(|(n, _)| n.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_named() {
        assert_eq!(lookup(0).as_deref(), Some("root"));
        assert_eq!(lookup(4_000_000_000), None);
    }

    #[test]
    fn the_cache_answers_later_without_blocking() {
        fn slow(uid: u32) -> Option<String> {
            std::thread::sleep(Duration::from_millis(50));
            (uid == 7).then(|| "seven".to_string())
        }
        let mut c = NameCache::with_resolver(slow);
        assert_eq!(c.get(7), None, "the first ask does not wait");
        let t = Instant::now();
        let mut got = None;
        while got.is_none() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
            got = c.get(7);
        }
        assert_eq!(got.as_deref(), Some("seven"));
        assert_eq!(c.get(8), None);
    }
}
