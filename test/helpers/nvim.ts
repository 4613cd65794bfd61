// Real Neovim for tests: headless, with Teamtype's unchanged plugin from
// ../shared/clients/teamtype-nvim, driven over its msgpack-RPC socket (a
// minimal msgpack codec below: nil, booleans, integers, floats, strings,
// binaries, arrays, maps and the ext types Neovim uses for handles).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { onTestFinished } from 'vitest'

export const CLIENTS = resolve(import.meta.dirname, '..', '..', '..', 'shared', 'clients')
export const PLUGIN = join(CLIENTS, 'teamtype-nvim')

/// Why Neovim tests cannot run here, or null when they can.
export function neovimMissing(): string | null {
  const probe = spawnSync('nvim', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) return 'nvim is not installed (Debian: apt-get install neovim)'
  if (!existsSync(join(PLUGIN, 'lua', 'teamtype.lua'))) return `Teamtype's Neovim plugin is not at ${PLUGIN} (../shared/clients is absent)`
  return null
}

// --- msgpack ---

function encode(value: unknown, out: Buffer[]): void {
  if (value === null || value === undefined) return void out.push(Buffer.from([0xc0]))
  if (value === false) return void out.push(Buffer.from([0xc2]))
  if (value === true) return void out.push(Buffer.from([0xc3]))
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < 2 ** 32) {
      if (value < 128) return void out.push(Buffer.from([value]))
      const b = Buffer.alloc(5)
      b[0] = 0xce
      b.writeUInt32BE(value, 1)
      return void out.push(b)
    }
    if (Number.isInteger(value) && value < 0 && value >= -(2 ** 31)) {
      if (value >= -32) return void out.push(Buffer.from([value & 0xff]))
      const b = Buffer.alloc(5)
      b[0] = 0xd2
      b.writeInt32BE(value, 1)
      return void out.push(b)
    }
    const b = Buffer.alloc(9)
    b[0] = 0xcb
    b.writeDoubleBE(value, 1)
    return void out.push(b)
  }
  if (typeof value === 'string') {
    const s = Buffer.from(value, 'utf8')
    const h = Buffer.alloc(5)
    h[0] = 0xdb
    h.writeUInt32BE(s.length, 1)
    return void out.push(h, s)
  }
  if (Array.isArray(value)) {
    const h = Buffer.alloc(5)
    h[0] = 0xdd
    h.writeUInt32BE(value.length, 1)
    out.push(h)
    for (const v of value) encode(v, out)
    return
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
    const h = Buffer.alloc(5)
    h[0] = 0xdf
    h.writeUInt32BE(entries.length, 1)
    out.push(h)
    for (const [k, v] of entries) {
      encode(k, out)
      encode(v, out)
    }
    return
  }
  throw new Error(`msgpack: cannot encode ${typeof value}`)
}

class Incomplete extends Error {}

/// Decode one value at `at`; throws Incomplete when the buffer ends first.
function decode(buf: Buffer, at: { i: number }): unknown {
  const need = (n: number) => {
    if (at.i + n > buf.length) throw new Incomplete()
  }
  need(1)
  const t = buf[at.i++]!
  const str = (n: number) => {
    need(n)
    const s = buf.toString('utf8', at.i, at.i + n)
    at.i += n
    return s
  }
  const bin = (n: number) => {
    need(n)
    const b = buf.subarray(at.i, at.i + n)
    at.i += n
    return Buffer.from(b)
  }
  const arr = (n: number) => Array.from({ length: n }, () => decode(buf, at))
  const map = (n: number) => {
    const o: Record<string, unknown> = {}
    for (let k = 0; k < n; k++) {
      const key = decode(buf, at)
      o[String(key)] = decode(buf, at)
    }
    return o
  }
  const uint = (n: number) => {
    need(n)
    let v = 0
    for (let k = 0; k < n; k++) v = v * 256 + buf[at.i + k]!
    at.i += n
    return v
  }
  const int = (n: number) => {
    need(n)
    const v = n === 1 ? buf.readInt8(at.i) : n === 2 ? buf.readInt16BE(at.i) : n === 4 ? buf.readInt32BE(at.i) : Number(buf.readBigInt64BE(at.i))
    at.i += n
    return v
  }
  const ext = (n: number) => {
    need(1)
    const type = buf.readInt8(at.i++)
    const data = bin(n)
    // Neovim's handles (buffer, window, tabpage): the id as a msgpack integer.
    try {
      return { ext: type, id: decode(data, { i: 0 }) }
    } catch {
      return { ext: type, data }
    }
  }
  if (t < 0x80) return t
  if (t >= 0xe0) return t - 0x100
  if (t >= 0xa0 && t <= 0xbf) return str(t & 0x1f)
  if (t >= 0x90 && t <= 0x9f) return arr(t & 0x0f)
  if (t >= 0x80 && t <= 0x8f) return map(t & 0x0f)
  switch (t) {
    case 0xc0:
      return null
    case 0xc2:
      return false
    case 0xc3:
      return true
    case 0xc4:
      return bin(uint(1))
    case 0xc5:
      return bin(uint(2))
    case 0xc6:
      return bin(uint(4))
    case 0xca: {
      need(4)
      const v = buf.readFloatBE(at.i)
      at.i += 4
      return v
    }
    case 0xcb: {
      need(8)
      const v = buf.readDoubleBE(at.i)
      at.i += 8
      return v
    }
    case 0xcc:
      return uint(1)
    case 0xcd:
      return uint(2)
    case 0xce:
      return uint(4)
    case 0xcf:
      return uint(8)
    case 0xd0:
      return int(1)
    case 0xd1:
      return int(2)
    case 0xd2:
      return int(4)
    case 0xd3:
      return int(8)
    case 0xd4:
      return ext(1)
    case 0xd5:
      return ext(2)
    case 0xd6:
      return ext(4)
    case 0xd7:
      return ext(8)
    case 0xd8:
      return ext(16)
    case 0xc7:
      return ext(uint(1))
    case 0xc8:
      return ext(uint(2))
    case 0xc9:
      return ext(uint(4))
    case 0xd9:
      return str(uint(1))
    case 0xda:
      return str(uint(2))
    case 0xdb:
      return str(uint(4))
    case 0xdc:
      return arr(uint(2))
    case 0xdd:
      return arr(uint(4))
    case 0xde:
      return map(uint(2))
    case 0xdf:
      return map(uint(4))
  }
  throw new Error(`msgpack: unknown type byte 0x${t.toString(16)}`)
}

// --- Neovim ---

export interface NeovimOptions {
  /// The file to open (its folder, or one above, holds .swarmpad/).
  file: string
  /// The device's environment (SWARMPAD_HOME, SWARMPAD_BOOTSTRAP, SWARMPAD_LAN=0).
  env: NodeJS.ProcessEnv
  /// A folder whose `swarmpad` runs the command under test.
  binDir: string
}

/// A `swarmpad` on PATH that runs this checkout's command (as the README's
/// plugin configuration `{ 'swarmpad', 'client' }` expects).
export async function swarmpadShim(bin: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swarmpad-bin-'))
  const shim = join(dir, 'swarmpad')
  await writeFile(shim, `#!/bin/sh\nexec '${process.execPath}' '${bin}' "$@"\n`)
  await chmod(shim, 0o755)
  return dir
}

export class Neovim {
  private socket!: Socket
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private buffer = Buffer.alloc(0)
  readonly stderr: string[] = []
  exited = false

  private constructor(
    readonly child: ChildProcess,
    readonly address: string
  ) {}

  /// Start Neovim on `file` with the plugin configured for `swarmpad client`.
  static async start(opts: NeovimOptions): Promise<Neovim> {
    const dir = await mkdtemp(join(tmpdir(), 'swarmpad-nvim-'))
    const address = join(dir, 'nvim.sock')
    const setup = "lua require('teamtype').config('swarmpad', { cmd = { 'swarmpad', 'client' }, root_markers = '.swarmpad' }); require('teamtype').enable('swarmpad')"
    const env = { ...opts.env, PATH: `${opts.binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, XDG_STATE_HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir, XDG_CACHE_HOME: dir }
    const child = spawn('nvim', ['--headless', '-u', 'NONE', '-i', 'NONE', '-n', '--listen', address, '--cmd', `set rtp+=${PLUGIN}`, '--cmd', setup, '-c', 'runtime plugin/teamtype.lua', opts.file], {
      env,
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const nvim = new Neovim(child, address)
    child.stderr!.on('data', (c: Buffer) => nvim.stderr.push(c.toString('utf8')))
    child.stdout!.on('data', (c: Buffer) => nvim.stderr.push(c.toString('utf8')))
    child.on('exit', () => {
      nvim.exited = true
    })
    onTestFinished(() => nvim.kill())
    const deadline = Date.now() + 15_000
    for (;;) {
      try {
        await nvim.connect()
        break
      } catch (err) {
        if (Date.now() > deadline || nvim.exited) throw new Error(`nvim did not start: ${String(err)} ${nvim.stderr.join('')}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    return nvim
  }

  private connect(): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      const socket = connect(this.address)
      socket.once('connect', () => {
        this.socket = socket
        socket.on('data', (c: Buffer) => this.receive(c))
        socket.on('error', () => {})
        socket.on('close', () => {
          for (const p of this.pending.values()) p.reject(new Error('nvim closed its socket'))
          this.pending.clear()
        })
        resolvePromise()
      })
      socket.once('error', reject)
    })
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk])
    for (;;) {
      const at = { i: 0 }
      let msg: unknown
      try {
        msg = decode(this.buffer, at)
      } catch (err) {
        if (err instanceof Incomplete) return
        throw err
      }
      this.buffer = this.buffer.subarray(at.i)
      const m = msg as unknown[]
      if (m[0] === 1) {
        const p = this.pending.get(m[1] as number)
        this.pending.delete(m[1] as number)
        if (m[2] !== null && m[2] !== undefined) p?.reject(new Error(`nvim: ${JSON.stringify(m[2])}`))
        else p?.resolve(m[3])
      }
    }
  }

  /// Call an API function.
  request<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    const id = this.nextId++
    const out: Buffer[] = []
    encode([0, id, method, args], out)
    return new Promise<T>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`nvim: ${method} did not answer in 20 s; stderr: ${this.stderr.join('').slice(-2000)}`))
      }, 20_000)
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolvePromise(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        }
      })
      this.socket.write(Buffer.concat(out))
    })
  }

  /// Run Lua in Neovim (`...` are the arguments).
  lua<T = unknown>(code: string, ...args: unknown[]): Promise<T> {
    return this.request<T>('nvim_exec_lua', code, args)
  }

  /// Type keys as a user would (processed before this returns).
  async keys(keys: string): Promise<void> {
    await this.lua("vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(..., true, false, true), 'xt', false)", keys)
  }

  /// The buffer's text as the plugin sees it (with the final line break when 'eol').
  text(): Promise<string> {
    return this.lua<string>("local l = vim.api.nvim_buf_get_lines(0, 0, -1, true); if vim.bo.eol then table.insert(l, '') end; return table.concat(l, '\\n')")
  }

  /// What `:TeamtypeInfo` prints.
  info(): Promise<string> {
    return this.request<string>('nvim_exec', 'TeamtypeInfo', true)
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL')
    this.socket?.destroy()
  }

  /// Quit, closing the file (the plugin sends `close`).
  async quit(): Promise<void> {
    await this.request('nvim_command', 'qa!').catch(() => {})
    await new Promise<void>((r) => (this.exited ? r() : this.child.once('exit', () => r())))
  }
}
