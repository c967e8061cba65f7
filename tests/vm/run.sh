#!/usr/bin/env bash
# Runs tracer's privileged test files inside a VM booted with a stock Debian
# kernel (qemu, software emulation: no KVM needed, nothing on the host changes).
#
#   tests/vm/run.sh [TEST...]      default: ebpf_failed ebpf_exec ebpf_evasion
#                                  ebpf_jobs audit_netlink audit_backend
#
# Why: the host a test runs on decides which of tracer's code paths run. The
# project's CI VM refuses every BPF trampoline and has no kprobes, so there
# the failed-exec hooks fall back to their last tier (syscall tracepoints) and
# the fexit and kretprobe programs, the default tiers on a stock kernel, never
# load. Debian's own kernel (6.1, with BTF, kprobes and IA32 emulation) loads
# them, runs another verifier and has other struct offsets: it found that
# bpf_probe_read_user_str() returns 0 for an empty string there, which had
# dropped empty arguments of failed execs.
#
# The guest is an initramfs: busybox, the test binaries and the tracer binary
# (at their paths on the host, so the tests find them), the few programs the
# tests run, and their shared libraries. Its /init mounts what tracer needs,
# runs each test binary with --test-threads=1, prints the exit codes and
# powers off. This script fails unless every test binary passed.
#
# Environment: TRACER_VM_KERNEL_PKG (default: the package behind Debian's
# linux-image-cloud-amd64), TRACER_VM_KERNEL_URL (a kernel .deb to fetch
# instead), TRACER_VM_SUITE (a Debian release, e.g. trixie: its newest cloud
# kernel, found in its package index on deb.debian.org), TRACER_VM_DIR (work
# dir, default target/vm), TRACER_VM_TIMEOUT (seconds, default 1800),
# TRACER_VM_ACCEL (default tcg; kvm where nested KVM works). In the guest a
# tracer may take up to 600 s to start (TRACER_TEST_START_SECS): under
# software emulation the kernel's verifier is slow, more so on a busy host.
set -euo pipefail
cd "$(dirname "$0")/../.."
root_dir=$PWD

tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(ebpf_failed ebpf_exec ebpf_evasion ebpf_jobs audit_netlink audit_backend)
work=${TRACER_VM_DIR:-$root_dir/target/vm}
timeout_s=${TRACER_VM_TIMEOUT:-1800}
accel=${TRACER_VM_ACCEL:-tcg}

need() { command -v "$1" >/dev/null || { echo "vm: $1 is missing (bash xtask/setup.sh test installs it)" >&2; exit 1; }; }
need qemu-system-x86_64
need busybox
need bpftool
need cc
mkdir -p "$work"

# 1. The kernel: Debian's, unpacked from its package (not installed).
url=${TRACER_VM_KERNEL_URL:-}
suite=${TRACER_VM_SUITE:-}
if [ -z "$url" ] && [ -n "$suite" ]; then
  # Another Debian release's newest cloud kernel, from its package index.
  mirror=http://deb.debian.org/debian
  file=$(curl -fsSL "$mirror/dists/$suite/main/binary-amd64/Packages.xz" | xz -d |
    awk '/^Package: linux-image-[0-9][^ ]*-cloud-amd64$/ {p = 1}
         p && /^Filename:/ {f = $2; p = 0}
         END {print f}' || true)
  if [ -n "$file" ]; then
    url=$mirror/$file
  else
    cached=$(ls -d "$work"/kernel/linux-image-* 2>/dev/null | tail -1)
    [ -n "$cached" ] || { echo "vm: no cloud kernel found in Debian $suite's index" >&2; exit 1; }
    echo "vm: Debian $suite's index unreadable; using the kernel fetched before: $cached" >&2
    url=file://$cached.deb
  fi
fi
if [ -n "$url" ]; then
  pkg=$(basename "$url" .deb)
else
  pkg=${TRACER_VM_KERNEL_PKG:-$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ {print $2; exit}')}
fi
[ -n "$pkg" ] || { echo "vm: cannot find Debian's cloud kernel package (apt-get update?)" >&2; exit 1; }
kdir=$work/kernel/$pkg
if [ ! -d "$kdir/boot" ]; then
  dl=$work/kernel/dl
  rm -rf "$dl" && mkdir -p "$dl" && chmod 777 "$dl"
  if [ -n "$url" ]; then
    curl -fsSL -o "$dl/$pkg.deb" "$url" || { echo "vm: cannot fetch $url" >&2; exit 1; }
  else
    (cd "$dl" && apt-get download -q "$pkg" >/dev/null)
  fi
  dpkg-deb -x "$dl"/*.deb "$kdir.part" && mv "$kdir.part" "$kdir"
  rm -rf "$dl"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-*)

# 2. The test binaries (privileged feature) and the tracer binary they run.
bins=()
for t in "${tests[@]}"; do
  exe=$(cargo test -q -p tracer --features privileged,clickhouse --test "$t" --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*"' | sed 's/"executable":"\(.*\)"/\1/' | grep "/deps/$t-" | tail -1)
  [ -n "$exe" ] || { echo "vm: building test $t failed" >&2; exit 1; }
  bins+=("$exe")
done
tracer=$root_dir/target/debug/tracer
[ -x "$tracer" ] || { echo "vm: $tracer was not built" >&2; exit 1; }

# 3. The initramfs.
fs=$work/root
rm -rf "$fs"
# Merged /usr, as on Debian 12: /bin/true and /usr/bin/true are one file.
mkdir -p "$fs"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,tmp,run,etc,root,var/lib}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$fs/$d"; done
# busybox only for /init, called by its full name: applet links in /bin would
# be written through by the copies below (/bin is /usr/bin on Debian 12).
mkdir -p "$fs/busybox" && cp "$(command -v busybox)" "$fs/busybox/busybox"
copy() {
  local f l
  for f in "$@"; do
    mkdir -p "$fs$(dirname "$f")"
    cp -L "$f" "$fs$f"
    for l in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
      [ -e "$fs$l" ] || { mkdir -p "$fs$(dirname "$l")"; cp -L "$l" "$fs$l"; }
    done
  done
}
# What the tests run (real binaries, so that their exe paths are the real ones).
copy "$tracer" "${bins[@]}" "$(command -v bpftool)" /bin/true /bin/echo /bin/sleep \
  /usr/bin/printf /usr/bin/setpriv /usr/bin/id /usr/bin/mount /usr/bin/umount /usr/sbin/auditctl \
  /usr/sbin/auditd
# The storm tests' C programs, built here (the guest has no compiler).
mkdir -p "$fs/storm"
cc -O2 -o "$fs/storm/storm" tests/storm/storm.c
cc -O2 -static -o "$fs/storm/tiny" tests/storm/tiny.c
cc -O2 -pthread -o "$fs/storm/evasion" tests/storm/evasion.c
cp -L /bin/dash "$fs/bin/dash" && ln -s dash "$fs/bin/sh"
echo 'root:x:0:0:root:/root:/bin/sh' >"$fs/etc/passwd"
echo 'root:x:0:' >"$fs/etc/group"
{
  echo '#!/bin/sh'
  echo 'set -e; bb=/busybox/busybox'
  echo '$bb mount -t proc proc /proc; $bb mount -t sysfs sys /sys; $bb mount -t devtmpfs dev /dev'
  # No tmpfs on /tmp: the initramfs is writable memory already, and a
  # checkout under /tmp (a fresh clone in CI) would be hidden by it.
  echo '$bb mkdir -p /tmp /run/lock; $bb chmod 1777 /tmp'
  echo '$bb mount -t bpf bpf /sys/fs/bpf; $bb mount -t tracefs tracefs /sys/kernel/tracing'
  echo '$bb mount -t debugfs debugfs /sys/kernel/debug; $bb mount -t cgroup2 cgroup2 /sys/fs/cgroup'
  echo 'set +e'
  echo 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TRACER_TEST_STORM_BIN=/storm TRACER_TEST_START_SECS=600'
  echo 'echo "VMTEST kernel: $($bb cat /proc/version)"'
  echo 'cd /tmp; all=0'
  for b in "${bins[@]}"; do
    echo "$b --test-threads=1; rc=\$?; echo \"VMTEST $(basename "$b") rc=\$rc\"; [ \$rc = 0 ] || all=1"
  done
  echo 'echo "VMTEST-ALL=$all"; $bb sync; $bb poweroff -f'
} >"$fs/init"
chmod +x "$fs/init"
(cd "$fs" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.gz"

# 4. Boot it; the serial console is the log.
log=$work/serial.log
echo "vm: booting $(basename "$vmlinuz") ($accel) with ${tests[*]}; console in $log"
set +e
timeout "$timeout_s" qemu-system-x86_64 -accel "$accel" -cpu max -m 4096 -smp 2 \
  -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 panic=-1 quiet" -nographic -no-reboot -monitor none </dev/null >"$log" 2>&1
qrc=$?
set -e
tr -d '\r' <"$log" | sed -n '/^VMTEST kernel/,$p' | grep -v '^\[ *[0-9.]*\] reboot' || true
if [ $qrc = 124 ]; then
  echo "vm: the VM did not finish within ${timeout_s}s" >&2
  exit 1
fi
grep -q '^VMTEST-ALL=0' <(tr -d '\r' <"$log") || { echo "vm: tests failed in the VM (see above)" >&2; exit 1; }
echo "vm: all passed on $(basename "$vmlinuz")"
