// The device of the crash-durability suite, run in a child process (bundled
// from src/ by test/fuzz/bundle.ts, so it runs the code under test). It opens
// (or creates) the document `crash` in the storage root it is given and edits
// it without end, telling its parent over IPC what it is about to do and when
// each edit is durable; the parent kills it with SIGKILL at a random moment.
//
//   argv: <storage root> <seed> <process name>
//   -> { type: 'ready', text }            the document is open
//   -> { type: 'invoke', id, inserts, deletes }
//   -> { type: 'ok', id }                 the edit's block is durable in the log
//   -> { type: 'fail', id, message }
//   -> { type: 'error', message }         opening failed
import { Swarmpad } from '../../src/swarmpad.js'
import { tokenEdit, type Rng } from './ledger.js'

const [home, seedText, name] = process.argv.slice(2)
if (home === undefined || seedText === undefined || name === undefined || process.send === undefined) {
  throw new Error('usage: crash-child <home> <seed> <name> (with an IPC channel)')
}
const send = (m: unknown) => process.send!(m)

/// sfc32 seeded through splitmix32 (the same generator family as test/helpers/prng.ts).
function rngOf(seed: number): Rng {
  let s = seed >>> 0
  const mix = () => {
    s = (s + 0x9e3779b9) | 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = mix()
  let b = mix()
  let c = mix()
  let d = mix()
  const next = () => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  return {
    float: next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    bool: (p = 0.5) => next() < p
  }
}

async function main(): Promise<void> {
  const rng = rngOf(Number(seedText))
  const sp = new Swarmpad({ home: home!, ackInterval: 50 })
  let doc
  try {
    await sp.ready()
    doc = sp.library.find('crash') ? (await sp.open('crash')).doc : (await sp.create('crash')).doc
  } catch (err) {
    send({ type: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) })
    return
  }
  send({ type: 'ready', text: doc.text.toString() })
  let n = 0
  for (let id = 0; ; id++) {
    const e = tokenEdit(rng, doc.text.toString(), () => `⟦${name}#${++n}⟧`, 4)
    if (e.changes.length === 0) continue
    send({ type: 'invoke', id, inserts: e.inserts, deletes: e.deletes })
    const durable = doc.edit(e.changes).durable.then(
      () => send({ type: 'ok', id }),
      (err: unknown) => send({ type: 'fail', id, message: String(err) })
    )
    // Sometimes wait for the disk, sometimes type on (the append queue batches).
    const pace = rng.float()
    if (pace < 0.3) await durable
    else if (pace < 0.6) await new Promise((r) => setImmediate(r))
    else if (pace < 0.9) await new Promise((r) => setTimeout(r, rng.int(0, 4)))
  }
}

void main()
