// @ts-check
// W6: `swarmpad open NAME --no-browser` of a shared document on a second
// device whose daemon is not running -> the first block of that document
// sent to it over the testnet.
//
// Device A is a daemon in this process (dist/daemon/daemon.js, its own
// storage root, the loopback testnet, LAN off) that owns a document. Device
// B is the real CLI in child processes (bin/swarmpad.js with SWARMPAD_HOME,
// SWARMPAD_BOOTSTRAP = the testnet, SWARMPAD_LAN=0): it joined the document
// once with an invite (`swarmpad join`, not timed) and stopped its daemon.
// Each repetition: A adds an edit B has not seen; then B runs
// `swarmpad open shared --no-browser`, which starts B's daemon (a detached
// process), which opens the library, joins the document's topic, finds A on
// the DHT, connects and fetches A's new block.
//
// Measured on A's clock (this process): from spawning the command to A's
// writer core uploading the new block to B (its 'upload' event). Also noted:
// when A saw B's connection, when the command exited, and when B's daemon
// served the new text (polled through its API every 20 ms, so +-20 ms).
//
// Baseline, same run, same testnet: a fresh process with a bare Hyperswarm
// configured as the daemon configures its own (w6-swarm.mjs) joins the
// document's topic as a client: from spawning it to A seeing the connection.
import createTestnet from 'hyperdht/testnet.js'
import b4a from 'b4a'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { Daemon } from '../dist/daemon/daemon.js'
import { median, tempDir, row } from './lib.mjs'

const BIN = fileURLToPath(new URL('../bin/swarmpad.js', import.meta.url))
const SWARM = fileURLToPath(new URL('./w6-swarm.mjs', import.meta.url))

/**
 * Run a command; resolves with its exit code and output.
 * @param {string[]} args @param {NodeJS.ProcessEnv} env @param {string} [file]
 */
function spawnCmd (args, env, file = BIN) {
  const started = performance.now()
  const child = spawn(process.execPath, [file, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = []
  const err = []
  child.stdout.on('data', (d) => out.push(d))
  child.stderr.on('data', (d) => err.push(d))
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const done = new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer)
    resolve({ code, ms: performance.now() - started, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
  }))
  return { started, done: /** @type {Promise<{ code: number | null, ms: number, stdout: string, stderr: string }>} */ (done) }
}

/** GET the daemon API of a storage root; null when no daemon answers. @param {string} home @param {string} path */
async function api (home, path) {
  let info
  try {
    info = JSON.parse(await readFile(join(home, 'daemon.json'), 'utf8'))
  } catch {
    return null
  }
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: info.port, path, headers: { Authorization: `Bearer ${info.token}` } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString('utf8') : null))
    })
    req.on('error', () => resolve(null))
    req.end()
  })
}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** @param {{ reps: number }} opts */
export async function run6 ({ reps }) {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const tmp = await tempDir('swarmpad-bench-w6-')
  /** @type {Daemon | null} */
  let a = null
  const homeB = join(tmp.dir, 'b')
  const results = { first: /** @type {number[]} */ ([]), conn: /** @type {number[]} */ ([]), cmd: /** @type {number[]} */ ([]), text: /** @type {number[]} */ ([]), swarm: /** @type {number[]} */ ([]), swarmInside: /** @type {number[]} */ ([]), ready: /** @type {number[]} */ ([]), phases: '' }
  let envB = /** @type {NodeJS.ProcessEnv} */ ({})
  try {
    for (const b of testnet.bootstrap) if (b.host !== '127.0.0.1') throw new Error(`testnet node ${b.host} is not loopback`)
    const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
    envB = { ...cleanEnv(), SWARMPAD_HOME: homeB, SWARMPAD_BOOTSTRAP: bootstrap, SWARMPAD_LAN: '0', NO_COLOR: '1' }
    a = new Daemon({ home: join(tmp.dir, 'a'), bootstrap, lan: false, log: () => {} })
    await a.ready()
    const daemonA = a
    const { doc } = await a.swarmpad.create('w6', { text: 'W6 shared document\n'.repeat(200) })
    const invite = await a.invites.create('w6', { role: 'writer' })
    const joined = await spawnCmd(['join', invite.code, 'shared'], envB).done
    if (joined.code !== 0) throw new Error(`W6: swarmpad join failed: ${joined.stderr}`)
    const stopped = await spawnCmd(['stop'], envB).done
    if (stopped.code !== 0) throw new Error(`W6: swarmpad stop failed: ${stopped.stderr}`)

    for (let r = 0; r < reps; r++) {
      // Something new for B: A's next block.
      const line = `edit ${r} while the second device was off\n`
      await doc.edit([{ from: 0, insert: line }]).durable
      const expected = doc.text.toString()
      const local = doc.autobase.local
      const blockIndex = local.length - 1
      /** @type {number | null} */
      let tFirst = null
      /** @type {number | null} */
      let tConn = null
      const onUpload = (/** @type {number} */ index) => { if (tFirst === null && index === blockIndex) tFirst = performance.now() }
      const onConn = () => { if (tConn === null) tConn = performance.now() }
      local.on('upload', onUpload)
      daemonA.network.on('connection', onConn)
      const cmd = spawnCmd(['open', 'shared', '--no-browser'], envB)
      let tText = null
      const deadline = Date.now() + 60_000
      while (tText === null || tFirst === null) {
        if (Date.now() > deadline) throw new Error('W6: the second device did not get the new block within 60 s')
        await sleep(20)
        if (tText === null && (await api(homeB, '/api/cat?doc=shared')) === expected) tText = performance.now()
      }
      const out = await cmd.done
      if (out.code !== 0 || !/^http:\/\/127\.0\.0\.1:\d+\/login\?token=/.test(out.stdout)) throw new Error(`W6: swarmpad open failed (${out.code}): ${out.stderr}`)
      local.off('upload', onUpload)
      daemonA.network.off('connection', onConn)
      results.first.push(tFirst - cmd.started)
      if (tConn !== null) results.conn.push(tConn - cmd.started)
      results.cmd.push(out.ms)
      results.text.push(tText - cmd.started)
      // B's daemon logs when it was ready and its start phases.
      const logText = await readFile(join(homeB, 'daemon.log'), 'utf8').catch(() => '')
      const ready = [...logText.matchAll(/ready (\d+) ms after the process started: ([^)]*)\)/g)].pop()
      if (ready) {
        results.ready.push(Number(ready[1]))
        results.phases = ready[2]
      }
      const stop = await spawnCmd(['stop'], envB).done
      if (stop.code !== 0) throw new Error(`W6: swarmpad stop failed: ${stop.stderr}`)
      await sleep(200) // A notices the connection is gone

      // Baseline: a bare Hyperswarm in a fresh process joins the same topic.
      /** @type {number | null} */
      let tSwarm = null
      const onSwarm = () => { if (tSwarm === null) tSwarm = performance.now() }
      daemonA.network.on('connection', onSwarm)
      const s = spawnCmd([bootstrap, b4a.toString(doc.discoveryKey, 'hex')], { ...cleanEnv() }, SWARM)
      const sOut = await s.done
      daemonA.network.off('connection', onSwarm)
      if (sOut.code !== 0 || tSwarm === null) throw new Error(`W6 baseline failed (${sOut.code}): ${sOut.stderr}`)
      results.swarm.push(tSwarm - s.started)
      results.swarmInside.push(JSON.parse(sOut.stdout).joinToConnection)
      await sleep(200)
    }
  } finally {
    await spawnCmd(['stop'], envB).done.catch(() => {})
    await a?.close().catch(() => {})
    await testnet.destroy().catch(() => {})
    await tmp.remove()
  }
  return results
}

/** An environment without the caller's swarmpad settings. */
function cleanEnv () {
  /** @type {NodeJS.ProcessEnv} */
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWARMPAD_') && k !== 'NODE_OPTIONS' && !k.startsWith('VITEST')) env[k] = v
  return env
}

/** @param {{ reps: number }} opts */
export async function run ({ reps }) {
  const r = await run6({ reps })
  const value = median(r.first)
  const f = (/** @type {number[]} */ xs) => Math.round(median(xs))
  return [row({
    id: 'W6',
    name: `\`swarmpad open\` (daemon not running) on a second device -> first new block sent to it; median of ${reps}`,
    value,
    unit: 'ms',
    baseline: 'fresh process with a bare Hyperswarm: spawn -> connected to A',
    baselineValue: median(r.swarm),
    target: '< 250 ms',
    pass: value < 250,
    note: `medians: A sees the connection ${f(r.conn)} ms, command exits ${f(r.cmd)} ms, B's API serves the new text ${f(r.text)} ms (20 ms polls); baseline join -> connection inside its process ${f(r.swarmInside)} ms; B's daemon ready ${r.ready.length ? f(r.ready) : '?'} ms after its process started (last: ${r.phases})`
  })]
}
