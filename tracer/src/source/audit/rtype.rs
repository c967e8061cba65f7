//! Audit record types: the numbers the kernel and netlink use, and the names
//! `audit.log` writes (`type=SYSCALL`).
//!
//! The table is the one `ausearch` 3.0.9 knows (checked against it by
//! `tracer/tests/audit_parse.rs`), plus a few kernel types newer than that
//! release (REPLACE, DM_CTRL, DM_EVENT). A name we do not know maps to
//! [`RecordType::UNRECOGNIZED`] rather than failing the line: a newer auditd may
//! log types this table lacks, and tracer only needs a handful of them anyway.
//! `type=UNKNOWN[1327]` (what auditd writes for numbers *it* does not know) maps
//! to the number inside the brackets.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// An audit record type number (`struct nlmsghdr.nlmsg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordType(pub u16);

impl RecordType {
    /// A `type=NAME` whose NAME is not in the table.
    pub const UNRECOGNIZED: RecordType = RecordType(0);
    pub const LOGIN: RecordType = RecordType(1006);
    pub const USER_AUTH: RecordType = RecordType(1100);
    pub const USER_ACCT: RecordType = RecordType(1101);
    pub const CRED_ACQ: RecordType = RecordType(1103);
    pub const CRED_DISP: RecordType = RecordType(1104);
    pub const USER_START: RecordType = RecordType(1105);
    pub const USER_END: RecordType = RecordType(1106);
    pub const CRED_REFR: RecordType = RecordType(1110);
    pub const USER_LOGIN: RecordType = RecordType(1112);
    pub const USER_LOGOUT: RecordType = RecordType(1113);
    pub const USER_CMD: RecordType = RecordType(1123);
    pub const SYSTEM_BOOT: RecordType = RecordType(1127);
    pub const SYSTEM_SHUTDOWN: RecordType = RecordType(1128);
    pub const DAEMON_START: RecordType = RecordType(1200);
    pub const DAEMON_END: RecordType = RecordType(1201);
    pub const DAEMON_ABORT: RecordType = RecordType(1202);
    pub const SYSCALL: RecordType = RecordType(1300);
    pub const PATH: RecordType = RecordType(1302);
    pub const CWD: RecordType = RecordType(1307);
    pub const EXECVE: RecordType = RecordType(1309);
    pub const EOE: RecordType = RecordType(1320);
    pub const PROCTITLE: RecordType = RecordType(1327);

    /// The record type named `name` (`SYSCALL`, `UNKNOWN[1327]`);
    /// [`RecordType::UNRECOGNIZED`] for a well-formed name not in the table,
    /// `None` for `UNKNOWN[...]` without a valid number inside.
    pub fn from_name(name: &[u8]) -> Option<RecordType> {
        // The records tracer reads most, exec's and a login's, without a
        // hash lookup (a login's dozen PAM records cost one each: ~1 % of a
        // report, issue 14).
        let fast = match name {
            b"SYSCALL" => Some(Self::SYSCALL),
            b"EXECVE" => Some(Self::EXECVE),
            b"CWD" => Some(Self::CWD),
            b"PATH" => Some(Self::PATH),
            b"PROCTITLE" => Some(Self::PROCTITLE),
            b"EOE" => Some(Self::EOE),
            b"USER_START" => Some(Self::USER_START),
            b"USER_END" => Some(Self::USER_END),
            b"CRED_DISP" => Some(Self::CRED_DISP),
            b"CRED_ACQ" => Some(Self::CRED_ACQ),
            b"CRED_REFR" => Some(Self::CRED_REFR),
            b"USER_CMD" => Some(Self::USER_CMD),
            b"USER_ACCT" => Some(Self::USER_ACCT),
            b"USER_AUTH" => Some(Self::USER_AUTH),
            b"USER_LOGIN" => Some(Self::USER_LOGIN),
            b"USER_LOGOUT" => Some(Self::USER_LOGOUT),
            b"LOGIN" => Some(Self::LOGIN),
            _ => None,
        };
        if fast.is_some() {
            return fast;
        }
        if let Some(inner) = name
            .strip_prefix(b"UNKNOWN[")
            .and_then(|r| r.strip_suffix(b"]"))
        {
            if inner.is_empty() || inner.len() > 5 || !inner.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n = inner
                .iter()
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
            return u16::try_from(n).ok().map(RecordType);
        }
        Some(
            by_name()
                .get(name)
                .copied()
                .map(RecordType)
                .unwrap_or(Self::UNRECOGNIZED),
        )
    }

    /// The name auditd writes for this type, if it is in the table.
    pub fn name(self) -> Option<&'static str> {
        TABLE
            .binary_search_by_key(&self.0, |&(n, _)| n)
            .ok()
            .map(|i| TABLE[i].1)
    }

    /// Types a user-space program sends (PAM, sshd, sudo, systemd...): always
    /// one record per event, never followed by an EOE.
    pub fn is_user_message(self) -> bool {
        matches!(self.0, 1005 | 1100..=1199 | 2100..=2999)
    }

    /// auditd's own records (DAEMON_START...): one record per event.
    pub fn is_daemon_message(self) -> bool {
        matches!(self.0, 1200..=1299)
    }
}

impl fmt::Display for RecordType {
    /// `SYSCALL`, or `UNKNOWN[1234]` like auditd for numbers not in the table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "UNKNOWN[{}]", self.0),
        }
    }
}

fn by_name() -> &'static HashMap<&'static [u8], u16> {
    static MAP: OnceLock<HashMap<&'static [u8], u16>> = OnceLock::new();
    MAP.get_or_init(|| TABLE.iter().map(|&(n, s)| (s.as_bytes(), n)).collect())
}

/// (number, name), sorted by number.
pub const TABLE: &[(u16, &str)] = &[
    (1005, "USER"),
    (1006, "LOGIN"),
    (1100, "USER_AUTH"),
    (1101, "USER_ACCT"),
    (1102, "USER_MGMT"),
    (1103, "CRED_ACQ"),
    (1104, "CRED_DISP"),
    (1105, "USER_START"),
    (1106, "USER_END"),
    (1107, "USER_AVC"),
    (1108, "USER_CHAUTHTOK"),
    (1109, "USER_ERR"),
    (1110, "CRED_REFR"),
    (1111, "USYS_CONFIG"),
    (1112, "USER_LOGIN"),
    (1113, "USER_LOGOUT"),
    (1114, "ADD_USER"),
    (1115, "DEL_USER"),
    (1116, "ADD_GROUP"),
    (1117, "DEL_GROUP"),
    (1118, "DAC_CHECK"),
    (1119, "CHGRP_ID"),
    (1120, "TEST"),
    (1121, "TRUSTED_APP"),
    (1122, "USER_SELINUX_ERR"),
    (1123, "USER_CMD"),
    (1124, "USER_TTY"),
    (1125, "CHUSER_ID"),
    (1126, "GRP_AUTH"),
    (1127, "SYSTEM_BOOT"),
    (1128, "SYSTEM_SHUTDOWN"),
    (1129, "SYSTEM_RUNLEVEL"),
    (1130, "SERVICE_START"),
    (1131, "SERVICE_STOP"),
    (1132, "GRP_MGMT"),
    (1133, "GRP_CHAUTHTOK"),
    (1134, "MAC_CHECK"),
    (1135, "ACCT_LOCK"),
    (1136, "ACCT_UNLOCK"),
    (1137, "USER_DEVICE"),
    (1138, "SOFTWARE_UPDATE"),
    (1200, "DAEMON_START"),
    (1201, "DAEMON_END"),
    (1202, "DAEMON_ABORT"),
    (1203, "DAEMON_CONFIG"),
    (1205, "DAEMON_ROTATE"),
    (1206, "DAEMON_RESUME"),
    (1207, "DAEMON_ACCEPT"),
    (1208, "DAEMON_CLOSE"),
    (1209, "DAEMON_ERR"),
    (1300, "SYSCALL"),
    (1302, "PATH"),
    (1303, "IPC"),
    (1304, "SOCKETCALL"),
    (1305, "CONFIG_CHANGE"),
    (1306, "SOCKADDR"),
    (1307, "CWD"),
    (1309, "EXECVE"),
    (1311, "IPC_SET_PERM"),
    (1312, "MQ_OPEN"),
    (1313, "MQ_SENDRECV"),
    (1314, "MQ_NOTIFY"),
    (1315, "MQ_GETSETATTR"),
    (1316, "KERNEL_OTHER"),
    (1317, "FD_PAIR"),
    (1318, "OBJ_PID"),
    (1319, "TTY"),
    (1320, "EOE"),
    (1321, "BPRM_FCAPS"),
    (1322, "CAPSET"),
    (1323, "MMAP"),
    (1324, "NETFILTER_PKT"),
    (1325, "NETFILTER_CFG"),
    (1326, "SECCOMP"),
    (1327, "PROCTITLE"),
    (1328, "FEATURE_CHANGE"),
    (1329, "REPLACE"),
    (1330, "KERN_MODULE"),
    (1331, "FANOTIFY"),
    (1332, "TIME_INJOFFSET"),
    (1333, "TIME_ADJNTPVAL"),
    (1334, "BPF"),
    (1335, "EVENT_LISTENER"),
    (1336, "URINGOP"),
    (1337, "OPENAT2"),
    (1338, "DM_CTRL"),
    (1339, "DM_EVENT"),
    (1400, "AVC"),
    (1401, "SELINUX_ERR"),
    (1402, "AVC_PATH"),
    (1403, "MAC_POLICY_LOAD"),
    (1404, "MAC_STATUS"),
    (1405, "MAC_CONFIG_CHANGE"),
    (1406, "MAC_UNLBL_ALLOW"),
    (1407, "MAC_CIPSOV4_ADD"),
    (1408, "MAC_CIPSOV4_DEL"),
    (1409, "MAC_MAP_ADD"),
    (1410, "MAC_MAP_DEL"),
    (1411, "MAC_IPSEC_ADDSA"),
    (1412, "MAC_IPSEC_DELSA"),
    (1413, "MAC_IPSEC_ADDSPD"),
    (1414, "MAC_IPSEC_DELSPD"),
    (1415, "MAC_IPSEC_EVENT"),
    (1416, "MAC_UNLBL_STCADD"),
    (1417, "MAC_UNLBL_STCDEL"),
    (1418, "MAC_CALIPSO_ADD"),
    (1419, "MAC_CALIPSO_DEL"),
    (1500, "APPARMOR"),
    (1501, "APPARMOR_AUDIT"),
    (1502, "APPARMOR_ALLOWED"),
    (1503, "APPARMOR_DENIED"),
    (1504, "APPARMOR_HINT"),
    (1505, "APPARMOR_STATUS"),
    (1506, "APPARMOR_ERROR"),
    (1507, "APPARMOR_KILL"),
    (1700, "ANOM_PROMISCUOUS"),
    (1701, "ANOM_ABEND"),
    (1702, "ANOM_LINK"),
    (1703, "ANOM_CREAT"),
    (1800, "INTEGRITY_DATA"),
    (1801, "INTEGRITY_METADATA"),
    (1802, "INTEGRITY_STATUS"),
    (1803, "INTEGRITY_HASH"),
    (1804, "INTEGRITY_PCR"),
    (1805, "INTEGRITY_RULE"),
    (1806, "INTEGRITY_EVM_XATTR"),
    (1807, "INTEGRITY_POLICY_RULE"),
    (2000, "KERNEL"),
    (2100, "ANOM_LOGIN_FAILURES"),
    (2101, "ANOM_LOGIN_TIME"),
    (2102, "ANOM_LOGIN_SESSIONS"),
    (2103, "ANOM_LOGIN_ACCT"),
    (2104, "ANOM_LOGIN_LOCATION"),
    (2105, "ANOM_MAX_DAC"),
    (2106, "ANOM_MAX_MAC"),
    (2107, "ANOM_AMTU_FAIL"),
    (2108, "ANOM_RBAC_FAIL"),
    (2109, "ANOM_RBAC_INTEGRITY_FAIL"),
    (2110, "ANOM_CRYPTO_FAIL"),
    (2111, "ANOM_ACCESS_FS"),
    (2112, "ANOM_EXEC"),
    (2113, "ANOM_MK_EXEC"),
    (2114, "ANOM_ADD_ACCT"),
    (2115, "ANOM_DEL_ACCT"),
    (2116, "ANOM_MOD_ACCT"),
    (2117, "ANOM_ROOT_TRANS"),
    (2118, "ANOM_LOGIN_SERVICE"),
    (2119, "ANOM_LOGIN_ROOT"),
    (2120, "ANOM_ORIGIN_FAILURES"),
    (2121, "ANOM_SESSION"),
    (2200, "RESP_ANOMALY"),
    (2201, "RESP_ALERT"),
    (2202, "RESP_KILL_PROC"),
    (2203, "RESP_TERM_ACCESS"),
    (2204, "RESP_ACCT_REMOTE"),
    (2205, "RESP_ACCT_LOCK_TIMED"),
    (2206, "RESP_ACCT_UNLOCK_TIMED"),
    (2207, "RESP_ACCT_LOCK"),
    (2208, "RESP_TERM_LOCK"),
    (2209, "RESP_SEBOOL"),
    (2210, "RESP_EXEC"),
    (2211, "RESP_SINGLE"),
    (2212, "RESP_HALT"),
    (2213, "RESP_ORIGIN_BLOCK"),
    (2214, "RESP_ORIGIN_BLOCK_TIMED"),
    (2215, "RESP_ORIGIN_UNBLOCK_TIMED"),
    (2300, "USER_ROLE_CHANGE"),
    (2301, "ROLE_ASSIGN"),
    (2302, "ROLE_REMOVE"),
    (2303, "LABEL_OVERRIDE"),
    (2304, "LABEL_LEVEL_CHANGE"),
    (2305, "USER_LABELED_EXPORT"),
    (2306, "USER_UNLABELED_EXPORT"),
    (2307, "DEV_ALLOC"),
    (2308, "DEV_DEALLOC"),
    (2309, "FS_RELABEL"),
    (2310, "USER_MAC_POLICY_LOAD"),
    (2311, "ROLE_MODIFY"),
    (2312, "USER_MAC_CONFIG_CHANGE"),
    (2313, "USER_MAC_STATUS"),
    (2400, "CRYPTO_TEST_USER"),
    (2401, "CRYPTO_PARAM_CHANGE_USER"),
    (2402, "CRYPTO_LOGIN"),
    (2403, "CRYPTO_LOGOUT"),
    (2404, "CRYPTO_KEY_USER"),
    (2405, "CRYPTO_FAILURE_USER"),
    (2406, "CRYPTO_REPLAY_USER"),
    (2407, "CRYPTO_SESSION"),
    (2408, "CRYPTO_IKE_SA"),
    (2409, "CRYPTO_IPSEC_SA"),
    (2500, "VIRT_CONTROL"),
    (2501, "VIRT_RESOURCE"),
    (2502, "VIRT_MACHINE_ID"),
    (2503, "VIRT_INTEGRITY_CHECK"),
    (2504, "VIRT_CREATE"),
    (2505, "VIRT_DESTROY"),
    (2506, "VIRT_MIGRATE_IN"),
    (2507, "VIRT_MIGRATE_OUT"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(by_name().len(), TABLE.len());
        // The fast path agrees with the table for every name.
        for &(n, name) in TABLE {
            assert_eq!(
                RecordType::from_name(name.as_bytes()),
                Some(RecordType(n)),
                "{name}"
            );
        }
    }

    #[test]
    fn names_and_numbers() {
        for (name, n) in [
            ("SYSCALL", 1300),
            ("PATH", 1302),
            ("CWD", 1307),
            ("EXECVE", 1309),
            ("EOE", 1320),
            ("PROCTITLE", 1327),
            ("LOGIN", 1006),
            ("USER_AUTH", 1100),
            ("USER_ACCT", 1101),
            ("USER_LOGIN", 1112),
            ("USER_START", 1105),
            ("USER_END", 1106),
            ("CRED_ACQ", 1103),
            ("CRED_DISP", 1104),
            ("CRED_REFR", 1110),
            ("USER_CMD", 1123),
        ] {
            assert_eq!(RecordType::from_name(name.as_bytes()), Some(RecordType(n)));
            assert_eq!(RecordType(n).to_string(), name);
        }
        assert_eq!(
            RecordType::from_name(b"UNKNOWN[1327]"),
            Some(RecordType::PROCTITLE)
        );
        assert_eq!(RecordType::from_name(b"UNKNOWN[99999]"), None);
        assert_eq!(RecordType::from_name(b"UNKNOWN[]"), None);
        assert_eq!(
            RecordType::from_name(b"NOT_A_TYPE"),
            Some(RecordType::UNRECOGNIZED)
        );
        assert_eq!(RecordType(4321).to_string(), "UNKNOWN[4321]");
    }
}
