#!/usr/bin/env bash
# Runs tracer's privileged eBPF tests inside a VM booted with a stock Debian 12
# kernel (qemu, software emulation: no KVM needed, nothing on the host changes).
#
#   tests/vm/run.sh [TEST...]      default: ebpf_failed ebpf_exec
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
# linux-image-cloud-amd64), TRACER_VM_DIR (work dir, default target/vm),
# TRACER_VM_TIMEOUT (seconds, default 900), TRACER_VM_ACCEL (default tcg;
# kvm where nested KVM works).
set -euo pipefail
cd "$(dirname "$0")/../.."
root_dir=$PWD

tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(ebpf_failed ebpf_exec)
work=${TRACER_VM_DIR:-$root_dir/target/vm}
timeout_s=${TRACER_VM_TIMEOUT:-900}
accel=${TRACER_VM_ACCEL:-tcg}

need() { command -v "$1" >/dev/null || { echo "vm: $1 is missing (bash xtask/setup.sh test installs it)" >&2; exit 1; }; }
need qemu-system-x86_64
need busybox
need bpftool
need cc
mkdir -p "$work"

# 1. The kernel: Debian's, unpacked from its package (not installed).
pkg=${TRACER_VM_KERNEL_PKG:-$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
  awk '/Depends: linux-image-[0-9]/ {print $2; exit}')}
[ -n "$pkg" ] || { echo "vm: cannot find Debian's cloud kernel package (apt-get update?)" >&2; exit 1; }
kdir=$work/kernel/$pkg
if [ ! -d "$kdir/boot" ]; then
  rm -rf "$work/kernel" && mkdir -p "$work/kernel/dl" && chmod 777 "$work/kernel/dl"
  (cd "$work/kernel/dl" && apt-get download -q "$pkg" >/dev/null)
  dpkg-deb -x "$work"/kernel/dl/"$pkg"_*.deb "$kdir"
  rm -rf "$work/kernel/dl"
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
mkdir -p "$fs"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,root,var/lib}
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
  /usr/bin/printf /usr/bin/setpriv /usr/bin/id /usr/bin/mount /usr/bin/umount
# The storm tests' C programs, built here (the guest has no compiler).
mkdir -p "$fs/storm"
cc -O2 -o "$fs/storm/storm" tests/storm/storm.c
cc -O2 -static -o "$fs/storm/tiny" tests/storm/tiny.c
cp -L /bin/dash "$fs/bin/dash" && ln -s dash "$fs/bin/sh"
echo 'root:x:0:0:root:/root:/bin/sh' >"$fs/etc/passwd"
echo 'root:x:0:' >"$fs/etc/group"
{
  echo '#!/bin/sh'
  echo 'set -e; bb=/busybox/busybox'
  echo '$bb mount -t proc proc /proc; $bb mount -t sysfs sys /sys; $bb mount -t devtmpfs dev /dev'
  echo '$bb mount -t tmpfs tmp /tmp; $bb mount -t tmpfs run /run; $bb mkdir -p /run/lock'
  echo '$bb mount -t bpf bpf /sys/fs/bpf; $bb mount -t tracefs tracefs /sys/kernel/tracing'
  echo '$bb mount -t debugfs debugfs /sys/kernel/debug; $bb mount -t cgroup2 cgroup2 /sys/fs/cgroup'
  echo 'set +e'
  echo 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TRACER_TEST_STORM_BIN=/storm'
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
timeout "$timeout_s" qemu-system-x86_64 -accel "$accel" -cpu max -m 2048 -smp 2 \
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
