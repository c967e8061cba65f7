#!/bin/bash
# Records a real audit.log on this machine for the report benchmark: Debian's
# auditd in the ENRICHED format with tracer's exec rules (rules/tracer.rules),
# two users logged in through sshd's stock PAM stack (pam_loginuid) on
# 127.0.0.1 running a developer's and a batch user's commands side by side,
# with sudo, su, and failing commands, beside root's own unattributed execs,
# until the log reaches the size asked for. Nothing in it is generated: every
# record is what the kernel and auditd wrote, in their order.
#
#   record_real_log.sh OUT.log MBYTES
#
# Run as root, alone (the benchmark holds the global lock around it): it
# restores the audit state (auditctl -D, -e 0), stops what it started by pid
# and removes its users on every path. Prints the number of exec events.
set -u
out=${1:?usage: record_real_log.sh OUT.log MBYTES}
mbytes=${2:?usage: record_real_log.sh OUT.log MBYTES}
here=$(cd "$(dirname "$0")" && pwd)
rules="$here/../../rules/tracer.rules"
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
auditd_pid= sshd_pid= pids=() made=()
gecos="tracer benchmark recorder"
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null
    auditctl -D >/dev/null 2>&1
    auditctl -e 0 >/dev/null 2>&1
    [ -n "$auditd_pid" ] && kill "$auditd_pid" 2>/dev/null && sleep 1
    for u in "${made[@]}"; do
        pkill -KILL -u "$u" 2>/dev/null
        userdel -r "$u" >/dev/null 2>&1
    done
    rm -f /etc/sudoers.d/tracer-record
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cat > "$dir/auditd.conf" <<CONF
log_file = $dir/audit.log
log_format = ENRICHED
log_group = root
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = $((mbytes + 64))
num_logs = 1
max_log_file_action = IGNORE
name_format = NONE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
CONF
auditd -n -c "$dir" >"$dir/auditd.out" 2>&1 & auditd_pid=$!
for _ in $(seq 50); do [ -s "$dir/audit.log" ] && break; sleep 0.1; done
[ -s "$dir/audit.log" ] || { echo "auditd did not start:" >&2; grep -iv "parser called" "$dir/auditd.out" >&2; exit 1; }
auditctl -b 8192 >/dev/null
auditctl -R "$rules" >/dev/null || { echo "auditctl -R $rules failed" >&2; exit 1; }
auditctl -e 1 >/dev/null

ssh-keygen -q -t ed25519 -N "" -f "$dir/id"
ssh-keygen -q -t ed25519 -N "" -f "$dir/host"
for u in rlalice rlbob; do
    # Left over by a run killed before its clean-up (marked by its comment
    # field): start afresh. Anyone else's user of that name is left alone.
    if id "$u" >/dev/null 2>&1; then
        if [ "$(getent passwd "$u" | cut -d: -f5)" != "$gecos" ]; then
            echo "record_real_log: a user $u exists and is not this script's: not touching it" >&2; exit 1
        fi
        pkill -KILL -u "$u" 2>/dev/null; userdel -r "$u" >/dev/null 2>&1
    fi
    useradd -m -s /bin/bash -c "$gecos" "$u" || { echo "record_real_log: useradd $u failed" >&2; exit 1; }
    made+=("$u")
    mkdir -p "/home/$u/.ssh"; cp "$dir/id.pub" "/home/$u/.ssh/authorized_keys"
    chown -R "$u:$u" "/home/$u/.ssh"; chmod 700 "/home/$u/.ssh"; usermod -p '*' "$u"
done
echo "rlalice ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/tracer-record
chmod 0440 /etc/sudoers.d/tracer-record
cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host
PidFile $dir/sshd.pid
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin no
StrictModes no
CONF
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" & sshd_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
ssh_() {
    ssh -i "$dir/id" -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o BatchMode=yes -o LogLevel=ERROR "$@"
}

# The developer: a small C project under git, edited, built and searched,
# with long compiler command lines (include and define lists), sudo now and
# then, and a command that is not there.
cat > "$dir/alice.sh" <<'ALICE'
set -u
mkdir -p ~/proj/src/include && cd ~/proj
git init -q . 2>/dev/null; git config user.email a@example.org; git config user.name alice
for i in $(seq 12); do printf '#include "h%d.h"\nint f%d(int x) { return x * %d; }\n' $i $i $i > src/f$i.c; echo "int f$i(int);" > src/include/h$i.h; done
printf 'int main(void) { return 0; }\n' > src/main.c
defs=$(for d in $(seq 40); do printf -- '-DFEATURE_%d=1 ' $d; done)
incs=$(for d in $(seq 25); do printf -- '-I/usr/include/pkg%d/include ' $d; done)
n=0
while :; do
    n=$((n + 1))
    for f in src/f*.c; do gcc -O2 -Wall -Isrc/include $incs $defs -c "$f" -o "${f%.c}.o"; done
    gcc -o prog src/*.o src/main.c 2>/dev/null
    ./prog; git add -A; git commit -qm "change $n" >/dev/null 2>&1; git status --short
    grep -rn "return" src | wc -l >/dev/null; ls -la src > /dev/null; find . -name '*.o' | sort | head -3 >/dev/null
    sed -i "s/x \* [0-9]*/x * $n/" src/f1.c; cat src/f1.c > /dev/null; date +%s > /dev/null
    vim_not_installed_here --version 2>/dev/null
    [ $((n % 5)) = 0 ] && sudo -n ls /root > /dev/null && sudo -n -u rlbob id > /dev/null
    [ $((n % 9)) = 0 ] && sudo -n su - rlbob -c 'uname -a' > /dev/null
done
ALICE
# The batch user: a pipeline of short tools over text files, scripts that
# start scripts, and a file it may not run.
cat > "$dir/bob.sh" <<'BOB'
set -u
mkdir -p ~/data && cd ~/data
seq 1 2000 | awk '{print "row", $1, $1 * 7 % 13}' > input.txt
printf '#!/bin/sh\nexec wc -l "$@"\n' > count.sh; chmod +x count.sh
printf '#!/bin/sh\necho no\n' > noexec.sh; chmod -x noexec.sh
n=0
while :; do
    n=$((n + 1))
    sort -k3 -n input.txt | uniq -c | tail -5 > /dev/null
    cut -d' ' -f2 input.txt | paste -sd+ | bc > /dev/null 2>&1
    tr a-z A-Z < input.txt | head -2 > /dev/null; ./count.sh input.txt > /dev/null
    tar czf out-$((n % 3)).tgz input.txt; gzip -t out-$((n % 3)).tgz; md5sum input.txt > /dev/null
    python3 -c 'import sys; print(sum(range(100)))' > /dev/null
    ./noexec.sh 2>/dev/null; env LC_ALL=C awk 'END {print NR}' input.txt > /dev/null
    basename "$PWD" > /dev/null; dirname "$PWD/x" > /dev/null; id -un > /dev/null
done
BOB
install -m 644 -o rlalice "$dir/alice.sh" /home/rlalice/work.sh
install -m 644 -o rlbob "$dir/bob.sh" /home/rlbob/work.sh
# Logins come and go: each user logs in, works for a while, logs out.
login_loop() {
    local user=$1
    while :; do
        ssh_ -tt "$user@127.0.0.1" 'timeout 20 bash ~/work.sh' </dev/null >/dev/null 2>&1
        ssh_ "$user@127.0.0.1" 'uptime; w -h' >/dev/null 2>&1
    done
}
login_loop rlalice & pids+=($!)
login_loop rlbob & pids+=($!)
# Root's own execs, outside any login (auid unset), as a node's daemons do.
( while :; do /bin/true; ls /proc > /dev/null; sleep 0.2; done ) & pids+=($!)

limit=$((mbytes * 1000000))
t0=$(date +%s)
while :; do
    sz=$(stat -c %s "$dir/audit.log")
    [ "$sz" -ge "$limit" ] && break
    if [ $(( $(date +%s) - t0 )) -gt 3600 ]; then echo "record_real_log: still under $mbytes MB after an hour" >&2; exit 1; fi
    sleep 1
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
pkill -KILL -u rlalice 2>/dev/null; pkill -KILL -u rlbob 2>/dev/null
sleep 1
auditctl -D >/dev/null; auditctl -e 0 >/dev/null
kill "$auditd_pid"; wait "$auditd_pid" 2>/dev/null; auditd_pid=
cp "$dir/audit.log" "$out.tmp" && mv "$out.tmp" "$out"
grep -c '^type=SYSCALL.*syscall=\(59\|322\|11\|358\|execve\|execveat\) ' "$out"
