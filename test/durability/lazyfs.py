#!/usr/bin/python3
"""A "lazy" passthrough file system for power-loss tests (test/durability).

    /usr/bin/python3 lazyfs.py BACKING MOUNTPOINT

mounts MOUNTPOINT (FUSE, Debian's python3-fusepy on libfuse2) as a mirror of
the directory BACKING, and then reads commands on stdin, one per line, and
answers each with one JSON line on stdout:

    stats              what is unsynced now, and the fsyncs seen so far
    writeback          make everything written so far durable, as the kernel's
                       periodic write-back of dirty pages (or sync(1)) would
    cut                power cut: every write not yet made durable is dropped
    cut-partial SEED   power cut with partial write-back: for each file, a
                       random number (seeded) of its newest unsynced writes is
                       dropped and the older ones are kept
    unmount            a clean unmount: nothing is dropped

A cut (or unmount) answers with a report, unmounts and ends the process. End
of stdin is an unmount, so a test runner that dies leaves no mount behind.
The first line on stdout is {"event": "ready"} once the mount serves requests.

The model (what a cut loses and what it keeps):

- File data is lost unless it was made durable. Every write(2) and every
  truncate goes to BACKING at once (so reads see it, and processes that only
  crash, SIGKILL, see it too), and its undo record (the bytes it overwrote and
  the file's size before it) is kept in memory. fsync(2) and fdatasync(2) of
  a file make all of its data written so far durable: its undo records are
  forgotten. A cut undoes the records still held, newest first, and puts the
  file's modification time back to what it was at its last durability point.
  So after a cut every file holds exactly what it held at its last fsync (or
  at the mount, if it was never fsynced since), or with cut-partial, that
  plus an oldest-first part of what was written since, as a kernel that had
  written back some of its dirty pages would leave it.
- Metadata is durable at once: create, mkdir, rename, link, unlink, rmdir,
  symlink, chmod, chown, utimens and extended attributes are applied to
  BACKING and never undone, and fsync of a directory changes nothing. So a
  file that was created and written but never fsynced is there after a cut,
  empty; a file renamed over another keeps the new name with only the data
  it had at its last fsync (the ext4 "zero-length file after rename" case).
  Lost metadata (a create or rename that never reached the disk because its
  directory was not fsynced) is NOT modelled.
- Not seen at all: sync(2) and syncfs(2) (FUSE does not forward them, so they
  make nothing durable here), sync_file_range(2) (no durability promise
  anyway), fallocate (refused: EOPNOTSUPP), O_DIRECT (dropped from the
  open: the data goes through the same undo records). A file opened with
  O_SYNC or O_DSYNC makes each of its writes durable as it returns.
  Torn writes inside one write(2) call and reordering of durable data are not
  modelled: a write is kept or dropped whole.

Our own code, written for swarmpad's tests; the idea of a FUSE layer that
holds unsynced writes and drops them on command comes from LazyFS
(dsrhaslab/lazyfs), which needs a C++ build and is not used here.
"""

import errno
import json
import os
import random
import subprocess
import sys
import threading

try:
    import fusepy as fuse  # Debian's python3-fusepy names the module fusepy
except ImportError:  # pragma: no cover - the pip package names it fuse
    import fuse  # type: ignore

OUT_LOCK = threading.Lock()


def say(obj):
    with OUT_LOCK:
        sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
        sys.stdout.flush()


class Pending:
    """The unsynced writes of one file (inode), oldest first."""

    __slots__ = ("fd", "records", "times", "bytes")

    def __init__(self, fd, st):
        # Our own descriptor of the file: undo works through it whatever
        # renames, links and unlinks happened since.
        self.fd = fd
        # (offset, old bytes, old size) per write or truncate.
        self.records = []
        self.times = (st.st_atime_ns, st.st_mtime_ns)
        self.bytes = 0


class LazyFS:
    use_ns = True

    def __init__(self, backing, mountpoint):
        self.root = os.path.realpath(backing)
        self.mountpoint = mountpoint
        self.lock = threading.RLock()
        self.dead = False
        self.pending = {}  # inode -> Pending
        self.sync_fds = set()  # our descriptors of files opened O_SYNC / O_DSYNC
        self.counts = {"writes": 0, "truncates": 0, "fsync": 0, "fdatasync": 0, "fsyncdir": 0, "eio_after_cut": 0}
        self.synced_paths = {}  # path relative to BACKING -> fsyncs of it

    # -- dispatch -----------------------------------------------------------

    def __call__(self, op, *args):
        with self.lock:
            if self.dead:
                self.counts["eio_after_cut"] += 1
                raise fuse.FuseOSError(errno.EIO)
            return getattr(self, "op_" + op)(*args)

    def full(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def rel(self, fd):
        try:
            return os.path.relpath(os.readlink("/proc/self/fd/%d" % fd), self.root)
        except OSError:
            return "?"

    # -- undo records -------------------------------------------------------

    def entry(self, fd):
        st = os.fstat(fd)
        p = self.pending.get(st.st_ino)
        if p is None:
            p = Pending(os.dup(fd), st)
            self.pending[st.st_ino] = p
        return p, st

    def record(self, fd, offset, length):
        """Remember what [offset, offset+length) and the size are now."""
        p, st = self.entry(fd)
        old = os.pread(fd, length, offset) if length > 0 and offset < st.st_size else b""
        p.records.append((offset, old, st.st_size))
        p.bytes += length
        return p

    def commit(self, fd):
        st = os.fstat(fd)
        p = self.pending.pop(st.st_ino, None)
        if p is not None:
            os.close(p.fd)

    def forget_unlinked(self):
        for ino, p in list(self.pending.items()):
            try:
                gone = os.fstat(p.fd).st_nlink == 0
            except OSError:
                gone = True
            if gone:
                os.close(p.fd)
                del self.pending[ino]

    def summary(self):
        files = {}
        for p in self.pending.values():
            files[self.rel(p.fd)] = {"writes": len(p.records), "bytes": p.bytes}
        return {
            "pendingFiles": len(self.pending),
            "pendingWrites": sum(len(p.records) for p in self.pending.values()),
            "pendingBytes": sum(p.bytes for p in self.pending.values()),
            "files": files,
            "counts": dict(self.counts),
            "synced": dict(self.synced_paths),
        }

    def cut(self, seed=None):
        """Drop unsynced writes (all, or a random newest part of each file's)."""
        with self.lock:
            self.dead = True
            rng = random.Random(seed) if seed is not None else None
            report = self.summary()
            dropped = kept = dropped_bytes = 0
            lost = {}
            for ino in sorted(self.pending, key=lambda i: self.rel(self.pending[i].fd)):
                p = self.pending[ino]
                n = len(p.records)
                keep = rng.randint(0, n) if rng is not None else 0
                for offset, old, size in reversed(p.records[keep:]):
                    if old:
                        os.pwrite(p.fd, old, offset)
                    os.ftruncate(p.fd, size)
                    dropped += 1
                if keep < n:
                    dropped_bytes += sum(len(r[1]) for r in p.records[keep:])
                    lost[self.rel(p.fd)] = n - keep
                kept += keep
                if keep == 0:
                    os.utime(p.fd, ns=p.times)
                os.fsync(p.fd)
                os.close(p.fd)
            self.pending.clear()
            report.update({"event": "cut", "mode": "all" if rng is None else "partial", "seed": seed, "dropped": dropped, "kept": kept, "lostFiles": lost})
            return report

    # -- operations ---------------------------------------------------------

    def op_init(self, path):
        say({"event": "ready", "pid": os.getpid()})

    def op_destroy(self, path):
        pass

    def op_getattr(self, path, fh=None):
        st = os.fstat(fh.fh) if fh else os.lstat(self.full(path))
        keys = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks", "st_blksize", "st_rdev")
        attrs = {k: getattr(st, k) for k in keys}
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        return attrs

    def op_access(self, path, amode):
        if not os.access(self.full(path), amode):
            raise fuse.FuseOSError(errno.EACCES)
        return 0

    def op_readlink(self, path):
        return os.readlink(self.full(path))

    def op_opendir(self, path):
        return 0

    def op_releasedir(self, path, fh):
        return 0

    def op_readdir(self, path, fh):
        return [".", ".."] + os.listdir(self.full(path))

    def op_mknod(self, path, mode, dev):
        return os.mknod(self.full(path), mode, dev)

    def op_mkdir(self, path, mode):
        return os.mkdir(self.full(path), mode)

    def op_rmdir(self, path):
        return os.rmdir(self.full(path))

    def op_unlink(self, path):
        os.unlink(self.full(path))
        self.forget_unlinked()

    def op_symlink(self, target, source):
        return os.symlink(source, self.full(target))

    def op_rename(self, old, new):
        os.rename(self.full(old), self.full(new))
        self.forget_unlinked()

    def op_link(self, target, source):
        return os.link(self.full(source), self.full(target))

    def op_chmod(self, path, mode):
        return os.chmod(self.full(path), mode, follow_symlinks=False)

    def op_chown(self, path, uid, gid):
        return os.chown(self.full(path), uid, gid, follow_symlinks=False)

    def op_utimens(self, path, times=None):
        return os.utime(self.full(path), ns=times, follow_symlinks=False) if times else os.utime(self.full(path), follow_symlinks=False)

    def op_statfs(self, path):
        sv = os.statvfs(self.full(path))
        return {k: getattr(sv, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

    def op_getxattr(self, path, name, position=0):
        try:
            return os.getxattr(self.full(path), name, follow_symlinks=False)
        except OSError as e:
            raise fuse.FuseOSError(e.errno)

    def op_setxattr(self, path, name, value, options, position=0):
        return os.setxattr(self.full(path), name, value, options, follow_symlinks=False)

    def op_listxattr(self, path):
        return os.listxattr(self.full(path), follow_symlinks=False)

    def op_removexattr(self, path, name):
        return os.removexattr(self.full(path), name, follow_symlinks=False)

    @staticmethod
    def backing_flags(flags):
        # Our descriptor can always read (to save what a write overwrites);
        # truncation goes through op_truncate (libfuse2 has no atomic O_TRUNC).
        if flags & os.O_ACCMODE == os.O_WRONLY:
            flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
        return flags & ~(os.O_TRUNC | os.O_CREAT | os.O_EXCL | os.O_DIRECT)

    def opened(self, fd, flags):
        if flags & (os.O_SYNC | os.O_DSYNC):
            self.sync_fds.add(fd)
        return fd

    def op_open(self, path, fi):
        fi.fh = self.opened(os.open(self.full(path), self.backing_flags(fi.flags)), fi.flags)
        return 0

    def op_create(self, path, mode, fi):
        full = self.full(path)
        flags = fi.flags
        if flags & os.O_TRUNC and not flags & os.O_EXCL and os.path.exists(full):
            self.op_truncate(path, 0)
        fi.fh = self.opened(os.open(full, self.backing_flags(flags) | os.O_CREAT | (flags & os.O_EXCL), mode), flags)
        return 0

    def op_read(self, path, size, offset, fi):
        return os.pread(fi.fh, size, offset)

    def op_write(self, path, data, offset, fi):
        self.record(fi.fh, offset, len(data))
        self.counts["writes"] += 1
        n = os.pwrite(fi.fh, data, offset)
        if fi.fh in self.sync_fds:
            self.commit(fi.fh)
        return n

    def op_truncate(self, path, length, fi=None):
        fd = fi.fh if fi else os.open(self.full(path), os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            self.record(fd, length, max(0, size - length))
            self.counts["truncates"] += 1
            os.ftruncate(fd, length)
        finally:
            if not fi:
                os.close(fd)

    def op_flush(self, path, fi):
        return 0

    def op_release(self, path, fi):
        self.sync_fds.discard(fi.fh)
        os.close(fi.fh)
        return 0

    def op_fsync(self, path, datasync, fi):
        (os.fdatasync if datasync else os.fsync)(fi.fh)
        self.counts["fdatasync" if datasync else "fsync"] += 1
        rel = self.rel(fi.fh)
        self.synced_paths[rel] = self.synced_paths.get(rel, 0) + 1
        self.commit(fi.fh)
        return 0

    def op_fsyncdir(self, path, datasync, fh):
        self.counts["fsyncdir"] += 1
        return 0


class Ops:
    """fusepy calls operations(name, *args); only what LazyFS implements is registered."""

    def __init__(self, fs):
        self.fs = fs
        for name in dir(fs):
            if name.startswith("op_"):
                setattr(self, name[3:], True)
        self.use_ns = True

    def __call__(self, op, *args):
        return self.fs(op, *args)


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    backing, mountpoint = sys.argv[1], sys.argv[2]
    fs = LazyFS(backing, mountpoint)
    done = threading.Event()

    def serve():
        try:
            fuse.FUSE(Ops(fs), mountpoint, raw_fi=True, foreground=True, nothreads=True, use_ino=True, hard_remove=True, big_writes=True, fsname="lazyfs", subtype="lazyfs")
        except BaseException as e:  # noqa: BLE001 - report and end
            say({"event": "error", "message": repr(e)})
        finally:
            done.set()

    threading.Thread(target=serve, daemon=True).start()

    def unmount():
        subprocess.run(["fusermount", "-u", "-z", mountpoint], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done.wait(10)
        say({"event": "unmounted"})
        sys.stdout.flush()
        os._exit(0)

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "stats":
                with fs.lock:
                    say(dict(fs.summary(), event="stats"))
            elif words[0] == "writeback":
                with fs.lock:
                    report = fs.summary()
                    for p in fs.pending.values():
                        os.close(p.fd)
                    fs.pending.clear()
                say(dict(report, event="writeback"))
            elif words[0] == "cut":
                say(fs.cut())
                unmount()
            elif words[0] == "cut-partial":
                say(fs.cut(int(words[1]) if len(words) > 1 else 0))
                unmount()
            elif words[0] == "unmount":
                with fs.lock:
                    fs.dead = True
                    report = fs.summary()
                say(dict(report, event="clean"))
                unmount()
            else:
                say({"event": "error", "message": "unknown command %r" % words[0]})
        except Exception as e:  # noqa: BLE001
            say({"event": "error", "message": repr(e)})
        if done.is_set():
            break
    # stdin closed (the test runner is gone) or the mount went away: clean unmount.
    with fs.lock:
        fs.dead = True
    unmount()


if __name__ == "__main__":
    main()
