//! The kernel's audit rule, `struct audit_rule_data` (include/uapi/linux/audit.h),
//! as sent with `AUDIT_ADD_RULE`/`AUDIT_DEL_RULE` and received from
//! `AUDIT_LIST_RULES`. [`super::rules`] builds these from auditctl syntax and
//! prints them back; [`super::netlink`] moves them to and from the kernel.
//!
//! Why not `netlink_packet_audit::RuleMessage`: version 0.7 encodes and
//! decodes `AUDIT_EXE` as a number although the kernel treats it as a string
//! (see `audit_data_to_entry()` in kernel/auditfilter.c), so a site rule like
//! `-F exe=/usr/bin/sudo -k x` comes back with its key read from the exe
//! path, and any field it does not know makes the whole listing fail. Rule
//! ownership (`tracer rules clear` deletes only tracer's keys) must not
//! depend on that, so this module implements the fixed ABI itself: the
//! field ids and operators still come from `netlink_packet_audit::constants`.

use netlink_packet_audit::constants::*;

/// Size of the fixed part: flags, action, field_count, `mask[64]`,
/// `fields[64]`, `values[64]`, `fieldflags[64]`, buflen.
pub const RULE_DATA_HEADER_LEN: usize = 4 * (3 + AUDIT_BITMASK_SIZE + 3 * AUDIT_MAX_FIELDS + 1);
const _: () = assert!(RULE_DATA_HEADER_LEN == 1040);

/// Separates several keys inside one `AUDIT_FILTERKEY` value.
pub const AUDIT_KEY_SEPARATOR: u8 = 0x01;

/// The prefix of every key tracer owns; `clear` touches nothing else.
pub const TRACER_KEY_PREFIX: &str = "tracer";

/// A field's value: the kernel stores strings (paths, keys, LSM labels) in
/// the trailing buffer and everything else in `values[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Num(u32),
    Str(Vec<u8>),
}

/// One `-F name<op>value` condition, already in kernel numbering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleField {
    /// `AUDIT_ARCH`, `AUDIT_LOGINUID`, `AUDIT_FILTERKEY`, ...
    pub field: u32,
    /// `AUDIT_EQUAL`, `AUDIT_NOT_EQUAL`, ...
    pub op: u32,
    pub value: FieldValue,
}

/// One kernel audit rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRule {
    /// The filter list (`AUDIT_FILTER_EXIT`, ...), with `AUDIT_FILTER_PREPEND`
    /// set for `-A` (the kernel clears that bit in listings).
    pub list: u32,
    /// `AUDIT_NEVER` or `AUDIT_ALWAYS`.
    pub action: u32,
    /// Syscall bitmap: bit `n % 32` of word `n / 32` selects syscall `n`.
    pub mask: [u32; AUDIT_BITMASK_SIZE],
    pub fields: Vec<RuleField>,
}

/// A rule the kernel sent that does not fit `struct audit_rule_data`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed audit rule from the kernel: {0}")]
pub struct RuleDecodeError(pub String);

/// Whether the kernel stores `field` as a string (kernel/auditfilter.c,
/// `audit_data_to_entry()`); every other field is a `u32` in `values[]`.
pub fn is_string_field(field: u32) -> bool {
    matches!(
        field,
        AUDIT_SUBJ_USER
            | AUDIT_SUBJ_ROLE
            | AUDIT_SUBJ_TYPE
            | AUDIT_SUBJ_SEN
            | AUDIT_SUBJ_CLR
            | AUDIT_OBJ_USER
            | AUDIT_OBJ_ROLE
            | AUDIT_OBJ_TYPE
            | AUDIT_OBJ_LEV_LOW
            | AUDIT_OBJ_LEV_HIGH
            | AUDIT_WATCH
            | AUDIT_DIR
            | AUDIT_FILTERKEY
            | AUDIT_EXE
    )
}

impl KernelRule {
    /// An empty rule on `list` with `action`, matching no syscall yet.
    pub fn new(list: u32, action: u32) -> Self {
        Self {
            list,
            action,
            mask: [0; AUDIT_BITMASK_SIZE],
            fields: Vec::new(),
        }
    }

    pub fn set_syscall(&mut self, nr: u32) {
        if let Some(word) = self.mask.get_mut((nr / 32) as usize) {
            *word |= 1 << (nr % 32);
        }
    }

    pub fn has_syscall(&self, nr: u32) -> bool {
        self.mask
            .get((nr / 32) as usize)
            .is_some_and(|w| w & (1 << (nr % 32)) != 0)
    }

    pub fn all_syscalls(&self) -> bool {
        self.mask.iter().all(|&w| w == u32::MAX)
    }

    /// The filter list without the prepend bit.
    pub fn list_nr(&self) -> u32 {
        self.list & !AUDIT_FILTER_PREPEND
    }

    /// The keys of this rule (`-k` may be given several times; the kernel
    /// keeps them in one value separated by `\x01`).
    pub fn keys(&self) -> Vec<&[u8]> {
        self.fields
            .iter()
            .filter(|f| f.field == AUDIT_FILTERKEY)
            .filter_map(|f| match &f.value {
                FieldValue::Str(s) => Some(s.as_slice()),
                FieldValue::Num(_) => None,
            })
            .flat_map(|s| s.split(|&b| b == AUDIT_KEY_SEPARATOR))
            .collect()
    }

    /// tracer owns a rule when it has a key and every key starts with
    /// `tracer`: a site rule that merely shares one of its keys is left alone.
    pub fn is_tracer_owned(&self) -> bool {
        let keys = self.keys();
        !keys.is_empty()
            && keys
                .iter()
                .all(|k| k.starts_with(TRACER_KEY_PREFIX.as_bytes()))
    }

    /// The value of the first `field`, if numeric.
    pub fn num_field(&self, field: u32) -> Option<u32> {
        self.fields.iter().find_map(|f| match f.value {
            FieldValue::Num(v) if f.field == field => Some(v),
            _ => None,
        })
    }

    /// `struct audit_rule_data` in host byte order, strings appended in
    /// field order as the kernel reads them.
    pub fn encode(&self) -> Vec<u8> {
        let strings: usize = self
            .fields
            .iter()
            .map(|f| match &f.value {
                FieldValue::Str(s) => s.len(),
                FieldValue::Num(_) => 0,
            })
            .sum();
        let mut out = vec![0u8; RULE_DATA_HEADER_LEN];
        let put = |out: &mut [u8], word: usize, v: u32| {
            out[word * 4..word * 4 + 4].copy_from_slice(&v.to_ne_bytes())
        };
        put(&mut out, 0, self.list);
        put(&mut out, 1, self.action);
        put(&mut out, 2, self.fields.len().min(AUDIT_MAX_FIELDS) as u32);
        for (i, w) in self.mask.iter().enumerate() {
            put(&mut out, 3 + i, *w);
        }
        let fields_at = 3 + AUDIT_BITMASK_SIZE;
        let values_at = fields_at + AUDIT_MAX_FIELDS;
        let flags_at = values_at + AUDIT_MAX_FIELDS;
        let mut buf = Vec::with_capacity(strings);
        for (i, f) in self.fields.iter().take(AUDIT_MAX_FIELDS).enumerate() {
            put(&mut out, fields_at + i, f.field);
            put(&mut out, flags_at + i, f.op);
            let value = match &f.value {
                FieldValue::Num(v) => *v,
                FieldValue::Str(s) => {
                    buf.extend_from_slice(s);
                    s.len() as u32
                }
            };
            put(&mut out, values_at + i, value);
        }
        put(&mut out, flags_at + AUDIT_MAX_FIELDS, buf.len() as u32);
        out.extend_from_slice(&buf);
        out
    }

    /// Parse one `AUDIT_LIST_RULES` payload. Never panics: every length
    /// comes from the kernel and is checked.
    pub fn decode(data: &[u8]) -> Result<Self, RuleDecodeError> {
        let word = |i: usize| -> Result<u32, RuleDecodeError> {
            data.get(i * 4..i * 4 + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_ne_bytes)
                .ok_or_else(|| {
                    RuleDecodeError(format!(
                        "{} bytes, shorter than the {RULE_DATA_HEADER_LEN}-byte header",
                        data.len()
                    ))
                })
        };
        let fields_at = 3 + AUDIT_BITMASK_SIZE;
        let values_at = fields_at + AUDIT_MAX_FIELDS;
        let flags_at = values_at + AUDIT_MAX_FIELDS;
        let mut rule = KernelRule::new(word(0)?, word(1)?);
        let count = word(2)? as usize;
        if count > AUDIT_MAX_FIELDS {
            return Err(RuleDecodeError(format!(
                "field_count {count} > {AUDIT_MAX_FIELDS}"
            )));
        }
        for (i, w) in rule.mask.iter_mut().enumerate() {
            *w = word(3 + i)?;
        }
        let buflen = word(flags_at + AUDIT_MAX_FIELDS)? as usize;
        let buf = data
            .get(RULE_DATA_HEADER_LEN..)
            .and_then(|b| b.get(..buflen))
            .ok_or_else(|| {
                RuleDecodeError(format!(
                    "buflen {buflen} exceeds the {} bytes received",
                    data.len()
                ))
            })?;
        let mut offset = 0usize;
        for i in 0..count {
            let field = word(fields_at + i)?;
            let op = word(flags_at + i)?;
            let raw = word(values_at + i)?;
            let value = if is_string_field(field) {
                let end = offset.saturating_add(raw as usize);
                let s = buf.get(offset..end).ok_or_else(|| {
                    RuleDecodeError(format!(
                        "string field {field} of {raw} bytes at {offset} overruns buflen {buflen}"
                    ))
                })?;
                offset = end;
                FieldValue::Str(s.to_vec())
            } else {
                FieldValue::Num(raw)
            };
            rule.fields.push(RuleField { field, op, value });
        }
        Ok(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KernelRule {
        let mut r = KernelRule::new(AUDIT_FILTER_EXIT, AUDIT_ALWAYS);
        r.set_syscall(59);
        r.set_syscall(322);
        r.fields.push(RuleField {
            field: AUDIT_ARCH,
            op: AUDIT_EQUAL,
            value: FieldValue::Num(AUDIT_ARCH_X86_64),
        });
        r.fields.push(RuleField {
            field: AUDIT_EXE,
            op: AUDIT_EQUAL,
            value: FieldValue::Str(b"/usr/bin/sudo".to_vec()),
        });
        r.fields.push(RuleField {
            field: AUDIT_FILTERKEY,
            op: AUDIT_EQUAL,
            value: FieldValue::Str(b"tracer_exec".to_vec()),
        });
        r
    }

    #[test]
    fn round_trip_keeps_string_fields_in_order() {
        let r = sample();
        let bytes = r.encode();
        assert_eq!(bytes.len(), RULE_DATA_HEADER_LEN + 13 + 11);
        let back = KernelRule::decode(&bytes).unwrap();
        assert_eq!(back, r);
        assert!(back.has_syscall(59) && back.has_syscall(322) && !back.has_syscall(11));
        assert_eq!(back.keys(), vec![b"tracer_exec".as_slice()]);
        assert!(back.is_tracer_owned());
    }

    #[test]
    fn ownership_needs_every_key_to_be_tracers() {
        let mut r = sample();
        r.fields.last_mut().unwrap().value = FieldValue::Str(b"tracer_x\x01site".to_vec());
        assert!(!r.is_tracer_owned());
        r.fields.pop();
        assert!(!r.is_tracer_owned());
    }

    #[test]
    fn truncated_or_lying_buffers_are_errors_not_panics() {
        let bytes = sample().encode();
        for cut in [
            0,
            3,
            100,
            RULE_DATA_HEADER_LEN - 1,
            RULE_DATA_HEADER_LEN + 5,
        ] {
            assert!(KernelRule::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut lying = bytes.clone();
        lying[8..12].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(KernelRule::decode(&lying).is_err());
    }
}
