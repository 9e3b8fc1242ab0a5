#!/bin/busybox sh
# /init of the guest's initramfs (busybox). Loads the modules listed in
# /modules/order, mounts the host root (9p, read-only) with proc, sys, dev,
# tmpfs and the scratch ext4 disk on /var/tmp, chroots into it to run
# test/kernels/guest.sh from the scratch disk's copy of the repository, then
# powers off. Progress and the exit code go to the second serial port.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
out() { echo "$*" >/dev/ttyS1; }
die() {
  out "init: $*"
  out "guest-exit 99"
  poweroff -f
}
while read -r m; do
  insmod "/modules/$m.ko" 2>/tmp/insmod.err || out "init: insmod $m: $(cat /tmp/insmod.err)"
done </modules/order
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/vda ] || die "no /dev/vda (virtio_blk)"

R=/newroot
mkdir -p $R
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot $R || die "mount 9p failed"
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
for d in /tmp /run /mnt; do mount -t tmpfs -o mode=1777 tmpfs $R$d; done
mount -t ext4 /dev/vda $R/var/tmp || die "mount /dev/vda (ext4) failed"
chmod 1777 $R/var/tmp
# cgroup v1 blkio, for the tests that throttle a loop device.
if mount -t tmpfs -o mode=755 cgroup $R/sys/fs/cgroup 2>/dev/null; then
  mkdir -p $R/sys/fs/cgroup/blkio
  mount -t cgroup -o blkio blkio $R/sys/fs/cgroup/blkio 2>/dev/null || out "init: no cgroup v1 blkio"
fi
out "guest-boot $(cut -d' ' -f1 /proc/uptime)"
chroot $R /bin/bash /var/tmp/repo/test/kernels/guest.sh
rc=$?
out "guest-exit $rc $(cut -d' ' -f1 /proc/uptime)"
sync
umount $R/var/tmp 2>/dev/null || { sleep 1; sync; umount -l $R/var/tmp; }
poweroff -f
