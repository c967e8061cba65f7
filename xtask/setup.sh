#!/usr/bin/env bash
# Installs what tracer needs on Debian 12 (bookworm), as root. Idempotent, and
# fast when everything is already there.
#
#   xtask/setup.sh          build and run: host toolchain + the eBPF toolchain
#   xtask/setup.sh test     also what the tests use: auditd, openssh-server,
#                           sudo, rsyslog, ClickHouse, Slurm (slurm-wlm: slurmctld,
#                           slurmd, client) and munge (started only by the
#                           tests themselves, with their own configuration),
#                           qemu and busybox for the tests in a VM (tests/vm)
#
# The eBPF toolchain is the "debian route" of `cargo xtask build-ebpf`:
# Debian's rustc-web (LLVM 22) with its prebuilt `core` for bpfel-unknown-none,
# and bpf-linker built against the same LLVM. Machines with a rustup nightly
# that has rust-src need none of it (the "upstream route").
set -euo pipefail

profile=${1:-build}
case "$profile" in build|test) ;; *) echo "usage: $0 [build|test]" >&2; exit 2 ;; esac
if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

pkgs=(build-essential pkg-config ca-certificates rustc-web cargo-web libstd-rust-web-dev-bpf llvm-22-dev zlib1g-dev libzstd-dev)
if [ "$profile" = test ]; then
  pkgs+=(auditd openssh-server openssh-client sudo rsyslog systemd bpftool passwd procps util-linux)
  # The fleet tests (tests/fleet_*.rs) start their own ClickHouse servers;
  # openssl makes the test CA and the server certificate of the HTTPS test.
  pkgs+=(clickhouse-server clickhouse-client openssl)
  # The Slurm job tests (tests/slurm_jobs.rs) run a single-node Slurm with
  # its own munged, all configured in temp dirs (tests/common/slurm.rs).
  pkgs+=(slurm-wlm slurmctld slurmd slurm-client munge)
  # tests/vm/run.sh boots Debian's stock kernel (fexit, kprobes, IA32) in qemu.
  pkgs+=(qemu-system-x86 busybox-static curl xz-utils)
fi

# Daemons of these packages must not be left running by their postinst: the
# tests start their own, and on a machine without systemd as PID 1 nothing
# would ever stop them. (Debian's postinsts go through invoke-rc.d, which a
# policy-rc.d answering 101 turns off; this also covers machines without one.)
daemons=(/usr/sbin/munged /usr/sbin/slurmd /usr/sbin/slurmctld)
running_daemons() {
  local d p
  for p in /proc/[0-9]*; do
    for d in "${daemons[@]}"; do
      [ "$(readlink "$p/exe" 2>/dev/null)" = "$d" ] && echo "${p#/proc/}"
    done
  done
  return 0
}

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  before=" $(running_daemons | tr '\n' ' ') "
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
  # Stop, by pid, only what this install started.
  for pid in $(running_daemons); do
    case "$before" in *" $pid "*) continue ;; esac
    echo "setup.sh: stopping $(readlink "/proc/$pid/exe" 2>/dev/null) (pid $pid), started by its package's postinst"
    kill "$pid" 2>/dev/null || true
  done
fi

# A cargo for host builds: rustup's if present, else Debian's cargo-web.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
command -v cargo >/dev/null || { echo "setup.sh: no cargo after installing cargo-web" >&2; exit 1; }

# bpf-linker, built against Debian's LLVM 22.
want=0.13.0
have=$(bpf-linker --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "setup.sh: building bpf-linker $want against LLVM 22 (a few minutes, once)"
  LLVM_PREFIX=/usr/lib/llvm-22 cargo install --quiet --locked bpf-linker --version "$want" \
    --no-default-features --features llvm-22
fi
# cargo-fuzz for `cargo xtask fuzz` (the short fuzz run at the end of
# `cargo xtask test`); it runs on rustup's nightly toolchain.
if [ "$profile" = test ]; then
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "setup.sh: installing cargo-fuzz"
    cargo install --quiet --locked cargo-fuzz
  fi
  if command -v rustup >/dev/null && ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "setup.sh: installing rustup's nightly toolchain (for fuzzing)"
    rustup toolchain install nightly --profile minimal
  fi
fi
echo "setup.sh: ready ($profile)"
