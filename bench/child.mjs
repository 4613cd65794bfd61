// @ts-check
// A benchmark's forked child processes and their IPC, both sides:
// the parent's { id, cmd, ...args } -> the child's { id, ok, result | error },
// and a first { ready, ... } from the child (bench/w2.mjs, w2-device.mjs, w2-yws.mjs).
import { fork } from 'node:child_process'

/** A forked process speaking the IPC above. */
export class Child {
  /**
   * @param {string} script
   * @param {string[]} args
   * @param {{ label: string, env?: NodeJS.ProcessEnv, readyMs?: number }} opts
   *   `label` names it in errors; `readyMs`: fail if it is not ready by then.
   */
  constructor (script, args, { label, env, readyMs }) {
    this.label = label
    this.child = fork(script, args, { ...(env ? { env } : {}), stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    this.stderr = ''
    this.child.stderr?.on('data', (d) => { this.stderr = (this.stderr + d).slice(-4000) })
    this.nextId = 0
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
    this.calls = new Map()
    this.exited = false
    this.gone = new Promise((resolve) => this.child.once('exit', resolve))
    /** @type {Promise<any>} the child's ready message */
    this.ready = new Promise((resolve, reject) => {
      const timer = readyMs === undefined ? null : setTimeout(() => reject(new Error(`${label}: not ready after ${readyMs / 1000} s: ${this.stderr}`)), readyMs)
      this.child.on('message', (/** @type {any} */ m) => {
        if (m.ready) {
          if (timer) clearTimeout(timer)
          return resolve(m)
        }
        const c = this.calls.get(m.id)
        if (!c) return
        this.calls.delete(m.id)
        if (m.ok) c.resolve(m.result)
        else c.reject(new Error(m.error))
      })
      this.child.on('exit', (code) => {
        if (timer) clearTimeout(timer)
        this.exited = true
        const err = new Error(`${label} exited (${code}): ${this.stderr}`)
        reject(err)
        for (const c of this.calls.values()) c.reject(err)
        this.calls.clear()
      })
    })
    this.ready.catch(() => {})
  }

  /** @param {string} cmd @param {Record<string, unknown>} [args] @returns {Promise<any>} */
  call (cmd, args = {}) {
    if (this.exited) return Promise.reject(new Error(`${this.label} exited: ${this.stderr}`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject })
      this.child.send({ id, cmd, ...args })
    })
  }

  /** Ask it to stop; SIGKILL after `killAfterMs`. @param {{ killAfterMs: number, awaitStop?: boolean }} opts */
  async stop ({ killAfterMs, awaitStop = false }) {
    if (this.exited) return
    const stopping = this.call('stop').catch(() => {})
    if (awaitStop) await stopping
    const timer = setTimeout(() => this.child.kill('SIGKILL'), killAfterMs)
    await this.gone
    clearTimeout(timer)
  }
}

/**
 * The child's side: answer the parent's calls with `handlers`. With
 * `ready`, also say so at once (with those fields) and exit when the
 * parent goes away.
 * @param {Record<string, (msg: any) => Promise<any>>} handlers
 * @param {Record<string, unknown>} [ready]
 */
export function serve (handlers, ready) {
  process.on('message', async (/** @type {any} */ msg) => {
    try {
      const fn = handlers[msg.cmd]
      if (!fn) throw new Error(`unknown command ${msg.cmd}`)
      process.send?.({ id: msg.id, ok: true, result: await fn(msg) })
    } catch (err) {
      process.send?.({ id: msg.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    }
  })
  if (ready === undefined) return
  process.on('disconnect', () => process.exit(0))
  process.send?.({ ready: true, ...ready })
}
