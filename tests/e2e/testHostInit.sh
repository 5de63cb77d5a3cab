#!/bin/sh
# Becomes PID 1 of a test host: sets up the mounts systemd-nspawn would, pivots into the root
# filesystem and execs systemd. Run by tests/e2e/testHost.ts as
#   nsenter --net=/run/netns/pkst-NAME unshare --pid --fork --kill-child --mount --uts --ipc --cgroup \
#     sh testHostInit.sh ROOTFS NAME
# so every mount below lives in a private mount namespace and vanishes with the host: nothing
# here can leak onto the machine running the tests. Facts: /work/shared/testhost.md.
set -eu

root=$1
name=$2

# unshare already made the new namespace private; say so here too, because a shared
# propagation would copy every mount below back to the machine.
mount --make-rprivate /

# pivot_root needs the new root to be a mount point.
mount --bind "$root" "$root"

# A proc for the new PID namespace; its sysctls read-only so the host can't retune the kernel.
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount --bind "$root/proc/sys" "$root/proc/sys"
mount -o remount,bind,ro,nosuid,nodev,noexec "$root/proc/sys"

# sysfs read-only (systemd then skips what it must not touch); cgroup2 shows only this host's
# own cgroup, as the cgroup namespace was created inside it.
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"

# A private /dev with only the harmless nodes, never the machine's disks.
mount -t tmpfs -o nosuid,mode=755,size=4m tmpfs "$root/dev"
node() {
    mknod -m 666 "$root/dev/$1" c "$2" "$3"
}
node null 1 3
node zero 1 5
node full 1 7
node random 1 8
node urandom 1 9
node tty 5 0
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mkdir "$root/dev/pts" "$root/dev/shm"
# newinstance: ptys of this host only (ssh sessions need them); gid 5 is Debian's tty group.
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5,nosuid,noexec devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/dev/shm"
# There is no terminal; systemd's console output goes nowhere.
touch "$root/dev/console"
mount --bind /dev/null "$root/dev/console"

mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs "$root/run"

# Swap roots and drop the old one, so no path leads back to the machine's files.
mkdir -p "$root/.oldroot"
cd "$root"
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot

# The capabilities nspawn also withholds: kernel modules, raw I/O, the clock, the kernel log,
# MAC policy, wake alarms. `env -i` gives systemd the clean environment of a real boot;
# container= tells it (and ConditionVirtualization=) that this is a container.
exec setpriv --bounding-set -sys_module,-sys_rawio,-sys_time,-syslog,-mac_admin,-mac_override,-wake_alarm,-block_suspend \
    env -i container="$name" /lib/systemd/systemd
