//! The one session model: what starts and ends a login, what kind of session
//! it is, which boot it belongs to, and how ttys, job ids and units are
//! normalised. Both `tracer run`'s live tracker ([`crate::session`]) and
//! `tracer report` ([`crate::report::model`]) feed it small fact structs and
//! follow its verdicts, so they cannot disagree on where a login begins.
//!
//! It is pure: no I/O, no dependency on [`crate::event::Event`] or the
//! report's `Record`; callers translate their own types into [`LoginFact`]s.
//!
//! The rules (see README, "Sessions"):
//! - a session is identified by (host, boot, ses): audit session ids start
//!   over at every boot ([`boot`]);
//! - it starts with the record that gave it its ses (the kernel's LOGIN,
//!   whose pid is the *login process*), or, when the log has no LOGIN for
//!   it, with the first USER_START/USER_LOGIN of a login service (sshd,
//!   login, gdm, cron...) in it, which then counts as the login process;
//! - it ends with that same process's USER_END/USER_LOGOUT, or (tracer's
//!   live tracker) when its leader and every process it ran are gone;
//!   records of any other process in the session (sudo, su, a nested PAM
//!   session) never start or end it: they are [`Verdict::Nested`];
//! - its start is never after its end.

pub mod boot;
pub mod job;
pub mod kind;
pub mod login;
pub mod normalize;

pub use boot::{BootFact, BootLabel, Boots, HostIndex};
pub use job::Job;
pub use kind::SessionKind;
pub use login::{failed_attempt, FailedAttempt, Login, LoginFact, LoginRecord, Verdict};
