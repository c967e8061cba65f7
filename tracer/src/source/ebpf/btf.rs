//! Struct member offsets from the running kernel's BTF.
//!
//! aya has no CO-RE relocations for Rust programs, so the programs read kernel
//! structs at offsets we hand them (`tracer_common::config::Offsets`). Compiling
//! offsets in would break on the next kernel; instead this module parses
//! `/sys/kernel/btf/vmlinux` (format: Documentation/bpf/btf.rst) just enough to
//! find a struct by name and the byte offset of a member, looking through
//! anonymous structs and unions the way C field access does (`mm_struct`'s
//! fields, for one, all sit inside an anonymous struct).

use std::collections::HashMap;
use std::path::Path;

/// Where the kernel exposes its own BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("can't read kernel BTF {path}: {source} (tracer's eBPF backend needs a kernel built with CONFIG_DEBUG_INFO_BTF=y)")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("kernel BTF {path} is malformed: {what}")]
    Malformed { path: String, what: &'static str },
    #[error("struct {0} is not in this kernel's BTF")]
    NoStruct(String),
    #[error(
        "field {strukt}.{field} is not in this kernel's BTF (kernel config or version lacks it)"
    )]
    NoField { strukt: String, field: String },
    #[error("field {strukt}.{field} is a bitfield; tracer can only read whole fields")]
    Bitfield { strukt: String, field: String },
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

#[derive(Debug, Clone)]
struct Member {
    name: u32,
    ty: u32,
    /// Offset in bits.
    bit_offset: u32,
    bitfield: bool,
}

#[derive(Debug, Clone)]
enum Type {
    Composite {
        members: Vec<Member>,
    },
    /// typedef / const / volatile / restrict / type tag: look through to `ty`.
    Alias {
        ty: u32,
    },
    Other,
}

/// The parsed type section: enough to resolve struct member offsets.
pub struct Btf {
    path: String,
    strings: Vec<u8>,
    /// Index `id - 1`.
    types: Vec<Type>,
    structs: HashMap<String, u32>,
    /// (name offset, type id) of the `FUNC` types (kernel functions).
    funcs: Vec<(u32, u32)>,
    /// (name offset, value) of every enumerator of the (32-bit) `ENUM` types:
    /// C enumerators share one namespace, so the name alone identifies one.
    enumerators: Vec<(u32, i64)>,
}

impl Btf {
    /// Parses the running kernel's BTF.
    pub fn from_sys() -> Result<Self, BtfError> {
        Self::from_file(Path::new(VMLINUX_BTF))
    }

    pub fn from_file(path: &Path) -> Result<Self, BtfError> {
        let data = std::fs::read(path).map_err(|source| BtfError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&data, &path.display().to_string())
    }

    pub fn parse(data: &[u8], path: &str) -> Result<Self, BtfError> {
        let bad = |what| BtfError::Malformed {
            path: path.to_string(),
            what,
        };
        let u32_at = |o: usize| -> Result<u32, BtfError> {
            data.get(o..o + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| bad("truncated"))
        };
        if data.len() < 24 || data[0..2] != [0x9f, 0xeb] {
            return Err(bad("bad magic (not little-endian BTF)"));
        }
        let hdr_len = u32_at(4)? as usize;
        let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
        let (str_off, str_len) = (u32_at(16)? as usize, u32_at(20)? as usize);
        let tstart = hdr_len + type_off;
        let sstart = hdr_len + str_off;
        let strings = data
            .get(sstart..sstart + str_len)
            .ok_or_else(|| bad("string section out of bounds"))?
            .to_vec();
        let tend = tstart + type_len;
        if tend > data.len() {
            return Err(bad("type section out of bounds"));
        }
        let mut types = Vec::new();
        let mut structs = HashMap::new();
        let mut funcs = Vec::new();
        let mut enumerators = Vec::new();
        let mut o = tstart;
        while o + 12 <= tend {
            let name = u32_at(o)?;
            let info = u32_at(o + 4)?;
            let size_or_type = u32_at(o + 8)?;
            o += 12;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kflag = info >> 31 == 1;
            let ty = match kind {
                KIND_STRUCT | KIND_UNION => {
                    let mut members = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        let m = o + i * 12;
                        let off = u32_at(m + 8)?;
                        let (bit_offset, bitfield) = if kflag {
                            (off & 0xff_ffff, off >> 24 != 0)
                        } else {
                            (off, false)
                        };
                        members.push(Member {
                            name: u32_at(m)?,
                            ty: u32_at(m + 4)?,
                            bit_offset,
                            bitfield,
                        });
                    }
                    o += vlen * 12;
                    if kind == KIND_STRUCT && name != 0 && vlen > 0 {
                        let id = types.len() as u32 + 1;
                        let n = cstr(&strings, name).to_string();
                        structs.entry(n).or_insert(id);
                    }
                    Type::Composite { members }
                }
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    Type::Alias { ty: size_or_type }
                }
                KIND_INT | KIND_VAR | KIND_DECL_TAG => {
                    o += 4;
                    Type::Other
                }
                KIND_ARRAY => {
                    o += 12;
                    Type::Other
                }
                KIND_ENUM => {
                    for i in 0..vlen {
                        let e = o + i * 8;
                        enumerators.push((u32_at(e)?, i64::from(u32_at(e + 4)? as i32)));
                    }
                    o += vlen * 8;
                    Type::Other
                }
                KIND_FUNC_PROTO => {
                    o += vlen * 8;
                    Type::Other
                }
                KIND_DATASEC | KIND_ENUM64 => {
                    o += vlen * 12;
                    Type::Other
                }
                KIND_FUNC => {
                    funcs.push((name, types.len() as u32 + 1));
                    Type::Other
                }
                KIND_PTR | KIND_FWD | KIND_FLOAT => Type::Other,
                _ => return Err(bad("unknown type kind")),
            };
            types.push(ty);
        }
        Ok(Self {
            path: path.to_string(),
            strings,
            types,
            structs,
            funcs,
            enumerators,
        })
    }

    /// The value of the C enumerator `name` (`freezer_cgrp_id`), if the
    /// kernel has it.
    pub fn enumerator(&self, name: &str) -> Option<i64> {
        self.enumerators
            .iter()
            .find(|&&(n, _)| cstr(&self.strings, n) == name)
            .map(|&(_, v)| v)
    }

    /// Whether the kernel has a function of this name in its BTF (what a
    /// fexit program needs to attach to it).
    pub fn has_func(&self, name: &str) -> bool {
        self.func_id(name).is_some()
    }

    /// The BTF type id of the kernel function `name`.
    pub fn func_id(&self, name: &str) -> Option<u32> {
        self.funcs
            .iter()
            .find(|&&(n, _)| cstr(&self.strings, n) == name)
            .map(|&(_, id)| id)
    }

    /// Byte offset of `field` in `struct strukt`, looking through anonymous
    /// members.
    pub fn field_offset(&self, strukt: &str, field: &str) -> Result<u32, BtfError> {
        let id = *self
            .structs
            .get(strukt)
            .ok_or_else(|| BtfError::NoStruct(strukt.to_string()))?;
        match self.find(id, field, 0, 0) {
            Some((bits, false)) if bits % 8 == 0 => Ok(bits / 8),
            Some(_) => Err(BtfError::Bitfield {
                strukt: strukt.into(),
                field: field.into(),
            }),
            None => Err(BtfError::NoField {
                strukt: strukt.into(),
                field: field.into(),
            }),
        }
    }

    /// The path this BTF was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn resolve(&self, mut id: u32) -> Option<&Type> {
        for _ in 0..32 {
            match self.types.get(id.checked_sub(1)? as usize)? {
                Type::Alias { ty } => id = *ty,
                t => return Some(t),
            }
        }
        None
    }

    fn find(&self, id: u32, field: &str, base: u32, depth: u32) -> Option<(u32, bool)> {
        if depth > 8 {
            return None;
        }
        let Type::Composite { members } = self.resolve(id)? else {
            return None;
        };
        for m in members {
            let name = cstr(&self.strings, m.name);
            if name == field {
                return Some((base + m.bit_offset, m.bitfield));
            }
            if name.is_empty() {
                if let Some(found) = self.find(m.ty, field, base + m.bit_offset, depth + 1) {
                    return Some(found);
                }
            }
        }
        None
    }
}

fn cstr(strings: &[u8], off: u32) -> &str {
    let s = strings.get(off as usize..).unwrap_or(&[]);
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    std::str::from_utf8(&s[..end]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a tiny BTF blob: `struct outer { int a; union { int b; struct { int c; int d; }; }; }`.
    fn blob() -> Vec<u8> {
        let strings = b"\0outer\0a\0b\0c\0d\0int\0f\0".to_vec();
        let s = |n: &str| -> u32 {
            let pos = strings
                .windows(n.len() + 2)
                .position(|w| w[0] == 0 && &w[1..=n.len()] == n.as_bytes() && w[n.len() + 1] == 0)
                .unwrap();
            pos as u32 + 1
        };
        let mut t: Vec<u8> = Vec::new();
        let mut push = |v: &[u32]| {
            for x in v {
                t.extend_from_slice(&x.to_le_bytes());
            }
        };
        // 1: int
        push(&[s("int"), KIND_INT << 24, 4, 32]);
        // 2: anon struct { c @0, d @32 }
        push(&[0, KIND_STRUCT << 24 | 2, 8, s("c"), 1, 0, s("d"), 1, 32]);
        // 3: anon union { b @0, <anon struct 2> @0 }
        push(&[0, KIND_UNION << 24 | 2, 8, s("b"), 1, 0, 0, 2, 0]);
        // 4: struct outer { a @0, <anon union 3> @64 }
        push(&[
            s("outer"),
            KIND_STRUCT << 24 | 2,
            16,
            s("a"),
            1,
            0,
            0,
            3,
            64,
        ]);
        // 5: FUNC f (type 1, as a stand-in for its prototype)
        push(&[s("f"), KIND_FUNC << 24, 1]);
        let mut out = vec![0x9f, 0xeb, 1, 0];
        for v in [
            24u32,
            0,
            t.len() as u32,
            t.len() as u32,
            strings.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&t);
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn finds_fields_through_anonymous_members() {
        let btf = Btf::parse(&blob(), "test").unwrap();
        assert_eq!(btf.field_offset("outer", "a").unwrap(), 0);
        assert_eq!(btf.field_offset("outer", "b").unwrap(), 8);
        assert_eq!(btf.field_offset("outer", "d").unwrap(), 12);
        let e = btf.field_offset("outer", "zz").unwrap_err().to_string();
        assert!(e.contains("outer.zz"), "{e}");
        assert!(matches!(
            btf.field_offset("nope", "a"),
            Err(BtfError::NoStruct(_))
        ));
        assert_eq!(btf.func_id("f"), Some(5));
        assert!(!btf.has_func("outer"), "a struct is not a function");
    }

    #[test]
    fn rejects_garbage() {
        assert!(Btf::parse(b"not btf at all, definitely not", "x").is_err());
        let mut b = blob();
        b.truncate(30);
        assert!(Btf::parse(&b, "x").is_err());
    }

    #[test]
    fn running_kernel_has_the_fields_tracer_needs() {
        // Every kernel tracer's eBPF backend supports exposes BTF; the CI
        // machine does, so this runs (and must pass) there.
        let btf = Btf::from_sys().unwrap();
        super::super::offsets::kernel_offsets(&btf).unwrap();
        assert!(!btf.has_func("tracer_no_such_function"));
        if cfg!(target_arch = "x86_64") {
            assert!(btf.has_func("__x64_sys_execve"));
        }
    }
}
