// Talking to the daemon: find it through daemon.json, start it when it is
// not running, call its API. Kept free of heavy imports (no Corestore, no
// Yjs) so every command starts fast.
import { request, type IncomingMessage } from 'node:http'
import { spawn } from 'node:child_process'
import { openSync, closeSync, statSync, renameSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { SwarmpadError, type ErrorCode } from '../errors.js'
import { processAlive, readPid, storageError } from '../storage/lock.js'
import { readDaemonInfo, removeDaemonInfo, type DaemonInfo } from '../daemon/info.js'
import type { Context } from './context.js'

/// How long a command waits for a daemon it started (SWARMPAD_START_TIMEOUT, ms).
const START_TIMEOUT_MS = 30_000
/// How long a running daemon has to answer a ping.
const PING_TIMEOUT_MS = 5_000
/// daemon.log is rotated to daemon.log.1 when a daemon starts and it is larger than this.
const MAX_LOG_BYTES = 4 * 1024 * 1024

export interface RequestOptions {
  query?: Record<string, string | number | undefined>
  json?: unknown
  text?: string | Buffer
  timeout?: number
}

/// A client of one running daemon.
export class DaemonClient {
  constructor(readonly info: DaemonInfo) {}

  get origin(): string {
    return `http://127.0.0.1:${this.info.port}`
  }

  /// Start a request; resolves with the response (not yet read).
  send(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const url = new URL(path, this.origin)
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    let body: Buffer | null = null
    const headers: Record<string, string> = { Authorization: `Bearer ${this.info.token}` }
    if (opts.json !== undefined) {
      body = Buffer.from(JSON.stringify(opts.json))
      headers['Content-Type'] = 'application/json'
    } else if (opts.text !== undefined) {
      body = typeof opts.text === 'string' ? Buffer.from(opts.text, 'utf8') : opts.text
      headers['Content-Type'] = 'text/plain; charset=utf-8'
    }
    if (body !== null) headers['Content-Length'] = String(body.length)
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers, agent: false }, resolve)
      req.on('error', reject)
      if (opts.timeout !== undefined) {
        req.setTimeout(opts.timeout, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
      }
      req.end(body ?? undefined)
    })
  }

  /// Call a route and return its body; an error reply is thrown as the SwarmpadError it was.
  async call(method: string, path: string, opts: RequestOptions = {}): Promise<{ body: Buffer; res: IncomingMessage }> {
    let res: IncomingMessage
    try {
      res = await this.send(method, path, opts)
    } catch (err) {
      throw unreachable(this.info, err)
    }
    const chunks: Buffer[] = []
    try {
      for await (const chunk of res) chunks.push(chunk as Buffer)
    } catch (err) {
      throw unreachable(this.info, err)
    }
    const body = Buffer.concat(chunks)
    if (res.statusCode !== 200) throw replyError(res.statusCode ?? 0, body)
    return { body, res }
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const { body } = await this.call(method, path, opts)
    return JSON.parse(body.toString('utf8')) as T
  }
}

/// The SwarmpadError a daemon reply stands for.
export function replyError(status: number, body: Buffer): SwarmpadError {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { code?: string; message?: string } }
    if (parsed.error && typeof parsed.error.message === 'string') {
      return new SwarmpadError((parsed.error.code ?? 'INTERNAL') as ErrorCode, parsed.error.message)
    }
  } catch {}
  return new SwarmpadError('INTERNAL', `the daemon answered ${status}: ${body.toString('utf8').trim().slice(0, 200)}`)
}

function unreachable(info: DaemonInfo, err: unknown): SwarmpadError {
  const code = (err as NodeJS.ErrnoException).code ?? ''
  return new SwarmpadError(
    'DAEMON_UNAVAILABLE',
    `lost the connection to the swarmpad daemon (pid ${info.pid}, ${code || (err as Error).message}); see ${info.home}/daemon.log and run the command again`
  )
}

/// The daemon of this storage root if it runs and answers, else null.
export async function findDaemon(ctx: Context): Promise<DaemonClient | null> {
  const info = await readDaemonInfo(ctx.paths.daemon)
  if (info === null) return null
  if (!processAlive(info.pid)) {
    await removeDaemonInfo(ctx.paths.daemon, info.pid)
    return null
  }
  const client = new DaemonClient(info)
  try {
    await client.json('GET', '/api/ping', { timeout: PING_TIMEOUT_MS })
    return client
  } catch (err) {
    if (err instanceof SwarmpadError && err.code === 'DAEMON_UNAVAILABLE' && /ETIMEDOUT/.test(err.message)) {
      throw new SwarmpadError(
        'DAEMON_UNAVAILABLE',
        `the swarmpad daemon (pid ${info.pid}) does not answer; see ${ctx.paths.log}, then \`swarmpad stop\` or \`kill ${info.pid}\``
      )
    }
    return null
  }
}

/// The running daemon, started (detached) first when needed.
export async function ensureDaemon(ctx: Context): Promise<DaemonClient> {
  const timeout = Number(process.env.SWARMPAD_START_TIMEOUT) > 0 ? Number(process.env.SWARMPAD_START_TIMEOUT) : START_TIMEOUT_MS
  const deadline = Date.now() + timeout
  let announced = false
  for (;;) {
    const client = await findDaemon(ctx)
    if (client !== null) return client
    // Nobody answers. A live holder of the lock is a daemon starting or stopping: wait for it.
    const holder = await readPid(ctx.paths.lock)
    if (holder === null || holder === process.pid || !processAlive(holder)) {
      if (!announced) ctx.progress('starting the swarmpad daemon...')
      announced = true
      const started = await startDaemon(ctx, deadline)
      if (started !== null) return new DaemonClient(started)
      // Another command started one first: loop to find it.
    }
    if (Date.now() > deadline) {
      throw new SwarmpadError(
        'DAEMON_UNAVAILABLE',
        `the swarmpad daemon did not answer within ${Math.round(timeout / 1000)} s${holder !== null ? ` (pid ${holder} holds ${ctx.home})` : ''}; see ${ctx.paths.log}`
      )
    }
    await sleep(50)
  }
}

/// Spawn a detached daemon and wait for it to report. Returns its info, or
/// null when another process holds the storage root (it is starting too).
async function startDaemon(ctx: Context, deadline: number): Promise<DaemonInfo | null> {
  // A bad --bootstrap is a usage error before anything is created.
  if (ctx.bootstrap !== null) (await import('../net/bootstrap.js')).parseBootstrap(ctx.bootstrap)
  try {
    await mkdir(ctx.home, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw storageError(ctx.home, err)
  }
  rotateLog(ctx.paths.log)
  let logFd: number
  try {
    logFd = openSync(ctx.paths.log, 'a', 0o600)
  } catch (err) {
    throw storageError(ctx.paths.log, err)
  }
  const main = fileURLToPath(new URL('./main.js', import.meta.url))
  const env: NodeJS.ProcessEnv = { ...process.env, SWARMPAD_HOME: ctx.home, SWARMPAD_LAN: ctx.lan ? '1' : '0' }
  if (ctx.bootstrap !== null) env.SWARMPAD_BOOTSTRAP = ctx.bootstrap
  else delete env.SWARMPAD_BOOTSTRAP
  const child = spawn(process.execPath, [main, 'daemon', '--background'], {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'ipc'],
    env,
    cwd: ctx.home
  })
  closeSync(logFd)
  type Report = { type: 'ready'; info: DaemonInfo } | { type: 'error'; code: ErrorCode; message: string }
  const report = await new Promise<Report | { type: 'exit'; code: number | null } | { type: 'timeout' }>((resolve) => {
    const timer = setTimeout(() => resolve({ type: 'timeout' }), Math.max(0, deadline - Date.now()))
    child.once('message', (m: Report) => {
      clearTimeout(timer)
      resolve(m)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ type: 'exit', code })
    })
    child.once('error', () => {
      clearTimeout(timer)
      resolve({ type: 'exit', code: null })
    })
  })
  child.removeAllListeners()
  if (child.connected) child.disconnect()
  child.unref()
  switch (report.type) {
    case 'ready':
      return report.info
    case 'error':
      if (report.code === 'STORAGE_LOCKED') return null
      throw new SwarmpadError(report.code, report.message)
    case 'exit':
      throw new SwarmpadError('DAEMON_UNAVAILABLE', `the swarmpad daemon stopped while starting (exit code ${report.code ?? 'unknown'}); see ${ctx.paths.log}`)
    case 'timeout':
      throw new SwarmpadError('DAEMON_UNAVAILABLE', `the swarmpad daemon did not start in time; see ${ctx.paths.log}`)
  }
}

function rotateLog(path: string): void {
  try {
    if (statSync(path).size > MAX_LOG_BYTES) renameSync(path, `${path}.1`)
  } catch {}
}

/// Ask the daemon to stop and wait until its process is gone. False when none was running.
export async function stopDaemon(ctx: Context, timeoutMs = 60_000): Promise<{ pid: number } | null> {
  const info = await readDaemonInfo(ctx.paths.daemon)
  const pid = info?.pid ?? (await readPid(ctx.paths.lock))
  if (pid === null || !processAlive(pid) || pid === process.pid) {
    if (info !== null) await removeDaemonInfo(ctx.paths.daemon, info.pid)
    return null
  }
  let asked = false
  if (info !== null && info.pid === pid) {
    try {
      await new DaemonClient(info).json('POST', '/api/stop', { timeout: PING_TIMEOUT_MS })
      asked = true
    } catch {}
  }
  // A daemon that does not answer (or is still starting) gets SIGTERM, which closes it the same way.
  if (!asked) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {}
  }
  const deadline = Date.now() + timeoutMs
  while (processAlive(pid)) {
    if (Date.now() > deadline) {
      throw new SwarmpadError('TIMEOUT', `the swarmpad daemon (pid ${pid}) is still stopping after ${Math.round(timeoutMs / 1000)} s; see ${ctx.paths.log}`)
    }
    await sleep(25)
  }
  return { pid }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
