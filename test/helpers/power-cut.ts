// Power cuts for tests: test/durability/lazyfs.py (a FUSE file system that
// mirrors a backing directory and keeps every write that was not fsynced
// undoable) driven from a test. See that file for exactly what a cut drops.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

export const LAZYFS = resolve(import.meta.dirname, '..', 'durability', 'lazyfs.py')
/// Debian's interpreter, where python3-fusepy is installed (not a pyenv shim).
const PYTHON = '/usr/bin/python3'

/// Why power-cut tests cannot run here, or null when they can. Only a missing
/// /dev/fuse is a reason to skip; missing packages are a failure (CI installs
/// them: `apt-get install fuse3 python3-fusepy`).
export function powerCutUnavailable(): string | null {
  if (process.platform !== 'linux') return 'FUSE power cuts need Linux'
  if (!existsSync('/dev/fuse')) return '/dev/fuse is missing (no FUSE in this kernel or container)'
  return null
}

/// Throws with the fix when the FUSE tools are not installed.
export function assertPowerCutTools(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import fusepy'], { encoding: 'utf8' })
  const fusermount = ['/usr/bin/fusermount', '/bin/fusermount', '/usr/bin/fusermount3'].some((p) => existsSync(p))
  if (probe.status !== 0 || !fusermount) {
    throw new Error(`power-cut tests need Debian's fuse3 and python3-fusepy (${PYTHON} -c 'import fusepy': ${probe.error?.message ?? probe.stderr.trim()}; fusermount ${fusermount ? 'found' : 'missing'}): apt-get install -y fuse3 python3-fusepy`)
  }
}

export interface LazyReport {
  event: string
  pendingFiles: number
  pendingWrites: number
  pendingBytes: number
  /// Unsynced writes per file (relative to the backing directory).
  files: Record<string, { writes: number; bytes: number }>
  counts: { writes: number; truncates: number; fsync: number; fdatasync: number; fsyncdir: number; eio_after_cut: number }
  /// fsync/fdatasync calls per file since the mount.
  synced: Record<string, number>
  /// Only in a cut's report:
  dropped?: number
  kept?: number
  lostFiles?: Record<string, number>
}

const live = new Set<LazyFs>()

/// One mount of lazyfs.py: `await LazyFs.mount(backing, mountpoint)`.
export class LazyFs {
  private lines: string[] = []
  private waiters: Array<(line: string | null) => void> = []
  private ended = false
  stderr = ''

  private constructor(
    readonly backing: string,
    readonly mountpoint: string,
    private readonly child: ChildProcess
  ) {
    const rl = createInterface({ input: child.stdout! })
    rl.on('line', (line) => {
      const w = this.waiters.shift()
      if (w) w(line)
      else this.lines.push(line)
    })
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()))
    child.on('close', () => {
      this.ended = true
      live.delete(this)
      for (const w of this.waiters.splice(0)) w(null)
    })
  }

  get pid(): number {
    return this.child.pid!
  }

  static async mount(backing: string, mountpoint: string): Promise<LazyFs> {
    // Something in the bare mountpoint was written after an unmount by a
    // process that outlived its power cut (libfuse2 refuses to mount there).
    const stray = isMounted(mountpoint) ? ['(still mounted)'] : readdirSync(mountpoint)
    if (stray.length > 0) throw new Error(`${mountpoint} is not empty before mounting lazyfs: ${stray.join(', ')}`)
    const child = spawn(PYTHON, [LAZYFS, backing, mountpoint], { stdio: ['pipe', 'pipe', 'pipe'] })
    const fs = new LazyFs(backing, mountpoint, child)
    live.add(fs)
    const first = await fs.next(10_000)
    if (first === null || JSON.parse(first).event !== 'ready') {
      await fs.kill()
      throw new Error(`lazyfs did not mount ${mountpoint}: ${first ?? 'exited'}\n${fs.stderr}\n/proc/mounts: ${mountsOf(mountpoint)}`)
    }
    if (!isMounted(mountpoint)) throw new Error(`lazyfs said ready but ${mountpoint} is not in /proc/mounts`)
    return fs
  }

  private next(ms: number): Promise<string | null> {
    const line = this.lines.shift()
    if (line !== undefined) return Promise.resolve(line)
    if (this.ended) return Promise.resolve(null)
    return new Promise((resolvePromise) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(done), 1)
        resolvePromise(null)
      }, ms)
      const done = (l: string | null) => {
        clearTimeout(timer)
        resolvePromise(l)
      }
      this.waiters.push(done)
    })
  }

  private async command(cmd: string, ms = 20_000): Promise<LazyReport> {
    if (this.ended) throw new Error(`lazyfs on ${this.mountpoint} has ended\n${this.stderr}`)
    this.child.stdin!.write(cmd + '\n')
    const line = await this.next(ms)
    if (line === null) throw new Error(`lazyfs did not answer "${cmd}"\n${this.stderr}`)
    const report = JSON.parse(line) as LazyReport
    if (report.event === 'error') throw new Error(`lazyfs: ${line}`)
    return report
  }

  /// What is unsynced now.
  stats(): Promise<LazyReport> {
    return this.command('stats')
  }

  /// Make everything written so far durable, as the kernel's periodic
  /// write-back (dirty pages older than vm.dirty_expire_centisecs, 30 s by
  /// default) or sync(1) would.
  writeback(): Promise<LazyReport> {
    return this.command('writeback')
  }

  /// Cut the power: drop unsynced writes (all of them, or with `partialSeed`
  /// a random newest part of each file's), then unmount. Kill every process
  /// that writes on the mount first: it would get EIO from here on.
  async cut(partialSeed?: number): Promise<LazyReport> {
    const report = await this.command(partialSeed === undefined ? 'cut' : `cut-partial ${partialSeed}`)
    await this.ends()
    return report
  }

  /// Unmount with nothing dropped.
  async unmount(): Promise<void> {
    if (this.ended) return
    try {
      await this.command('unmount')
    } catch {}
    await this.ends()
  }

  private async ends(): Promise<void> {
    const deadline = Date.now() + 15_000
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    if (!this.ended) await this.kill()
    if (isMounted(this.mountpoint)) forceUnmount(this.mountpoint)
  }

  async kill(): Promise<void> {
    if (!this.ended) {
      try {
        this.child.kill('SIGKILL')
      } catch {}
      const deadline = Date.now() + 5000
      while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    }
    if (isMounted(this.mountpoint)) forceUnmount(this.mountpoint)
  }
}

/// Unmount every lazyfs this process mounted (for afterAll, also after a failure).
export async function unmountAll(): Promise<void> {
  for (const fs of [...live]) await fs.kill()
}

function mountsOf(mountpoint: string): string {
  try {
    return readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(resolve(mountpoint))).join('; ') || 'none'
  } catch {
    return '?'
  }
}

export function isMounted(mountpoint: string): boolean {
  const target = resolve(mountpoint)
  try {
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1] === target)
  } catch {
    return false
  }
}

function forceUnmount(mountpoint: string): void {
  spawnSync('fusermount', ['-u', '-z', mountpoint], { stdio: 'ignore' })
  if (isMounted(mountpoint)) spawnSync('umount', ['-l', mountpoint], { stdio: 'ignore' })
}

/// Every process that a power cut of `mountpoint` must take down with it:
/// those with a file or their working directory under it, and those whose
/// environment holds `marker` (e.g. `SWARMPAD_HOME=<a root on the mount>`,
/// which also finds a daemon that a command is still starting). Only
/// processes a test started can match: the mount is its own temporary
/// directory. SIGKILL, and wait until they are gone; returns their pids.
export async function killProcessesOf(mountpoint: string, marker?: string): Promise<number[]> {
  const prefix = resolve(mountpoint) + '/'
  const killed: number[] = []
  for (let pass = 0; pass < 5; pass++) {
    const found: number[] = []
    for (const name of readdirSync('/proc')) {
      const pid = Number(name)
      if (!Number.isInteger(pid) || pid === process.pid) continue
      if (uses(pid, prefix, marker)) found.push(pid)
    }
    if (found.length === 0) break
    for (const pid of found) {
      try {
        process.kill(pid, 'SIGKILL')
        killed.push(pid)
      } catch {}
    }
    const deadline = Date.now() + 5000
    while (found.some((pid) => running(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  }
  return killed
}

function uses(pid: number, prefix: string, marker: string | undefined): boolean {
  try {
    if (!running(pid)) return false
    if (marker !== undefined && readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(marker)) return true
    if ((readlinkSync(`/proc/${pid}/cwd`) + '/').startsWith(prefix)) return true
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(prefix)) return true
      } catch {}
    }
  } catch {}
  return false
}

/// Alive and not a zombie.
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return !/^[ZX]$/.test(stat.charAt(stat.lastIndexOf(')') + 2))
  } catch {
    return false
  }
}

/// The path of `rel` inside the backing directory of a mount.
export function backingPath(fs: LazyFs, rel: string): string {
  return join(fs.backing, rel)
}
