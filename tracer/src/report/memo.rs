//! Per-group memo of the renderers' quoted strings. A session repeats the
//! same directories, commands and identities many times; quoting each once
//! (and measuring its display width once) instead of once per row is most of
//! the rendering cost saved. Renderers clear it between groups, and it
//! forgets everything when it holds more than [`MAX_ENTRIES`] strings: a
//! busy user's session has hundreds of thousands of distinct command lines,
//! and memoizing them all cost tens of MB at the end of a big report for
//! lines that never come again (issue 14). The output does not change: a
//! forgotten string is quoted again.

use crate::hash::IntMap;

use crate::event::UNSET;

use super::display::{self, Ctx};
use super::model::{Command, Interner, Sym, NONE};

/// A quoted string and its width in characters.
pub type Shown = (String, usize);

/// The memo's maps hash with [`crate::hash::Mix`], not SipHash (which was ~7 % of a
/// text report, issue 14): the keys are our own symbols and ids, not
/// strings, and the maps hold at most [`MAX_ENTRIES`], so crafted
/// collisions cost little.
type Map<K> = IntMap<K, Shown>;

/// Who a command ran as: its login and real uid, its rare facts (effective
/// uid, sudo target; see [`Command::extra_id`]) and identity flags (see
/// [`ident_key`]).
type IdentKey = (u32, u32, u32, u8);

#[derive(Debug, Default)]
pub struct Memo {
    paths: Map<Sym>,
    lines: Map<(Sym, Sym)>,
    idents: Map<IdentKey>,
    users: Map<u32>,
    /// JSON's `as_user`, by the same key as `idents`.
    as_users: IntMap<IdentKey, Option<String>>,
}

fn shown(s: String) -> Shown {
    let w = s.chars().count();
    (s, w)
}

/// Most strings remembered at once (all maps together).
pub const MAX_ENTRIES: usize = 4096;

const EMPTY: &Shown = &(String::new(), 0);

fn ident_key(c: &Command) -> IdentKey {
    (
        c.auid,
        c.uid,
        c.extra_id(),
        c.flags & !(super::model::FAILED | super::model::TRUNCATED | super::model::PREEXISTING),
    )
}

impl Memo {
    pub fn clear(&mut self) {
        self.paths.clear();
        self.lines.clear();
        self.idents.clear();
        self.users.clear();
        self.as_users.clear();
    }

    fn len(&self) -> usize {
        self.paths.len()
            + self.lines.len()
            + self.idents.len()
            + self.users.len()
            + self.as_users.len()
    }

    /// Quotes whatever of `c` is not memoized yet.
    pub fn prepare(&mut self, ctx: &Ctx<'_>, strings: &Interner, c: &Command) {
        if self.len() >= MAX_ENTRIES {
            self.clear();
        }
        for sym in [c.cwd, c.exe] {
            self.paths
                .entry(sym)
                .or_insert_with(|| shown(display::path(strings, sym)));
        }
        self.lines
            .entry((c.argv, c.exe))
            .or_insert_with(|| shown(display::command_line(strings, c)));
        self.idents
            .entry(ident_key(c))
            .or_insert_with(|| shown(ctx.ran_as(c, strings).unwrap_or_default()));
        self.users.entry(c.auid).or_insert_with(|| {
            shown(if c.auid == UNSET || c.auid == NONE {
                "-".into()
            } else {
                ctx.name(c.auid).unwrap_or_else(|| c.auid.to_string())
            })
        });
    }

    /// Quotes what a JSON row needs (its command line and `as_user`) and
    /// is not memoized yet.
    pub fn prepare_json(&mut self, ctx: &Ctx<'_>, strings: &Interner, c: &Command) {
        if self.len() >= MAX_ENTRIES {
            self.clear();
        }
        self.lines
            .entry((c.argv, c.exe))
            .or_insert_with(|| shown(display::command_line(strings, c)));
        self.as_users
            .entry(ident_key(c))
            .or_insert_with(|| ctx.ran_as_name(c, strings));
    }

    /// JSON's `as_user`: the effective user's name when it is not the
    /// login user's (see [`Ctx::ran_as_name`]).
    pub fn as_user(&self, c: &Command) -> Option<&str> {
        self.as_users.get(&ident_key(c)).and_then(|s| s.as_deref())
    }

    /// A path (cwd, exe), shell-quoted.
    pub fn path(&self, sym: Sym) -> &Shown {
        self.paths.get(&sym).unwrap_or(EMPTY)
    }
    /// The command line, shell-quoted.
    pub fn line(&self, c: &Command) -> &Shown {
        self.lines.get(&(c.argv, c.exe)).unwrap_or(EMPTY)
    }
    /// The identity it ran as, or empty.
    pub fn ran_as(&self, c: &Command) -> &Shown {
        self.idents.get(&ident_key(c)).unwrap_or(EMPTY)
    }
    /// The login user's name (or uid, or `-`).
    pub fn user(&self, c: &Command) -> &Shown {
        self.users.get(&c.auid).unwrap_or(EMPTY)
    }
}
