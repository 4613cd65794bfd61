// @ts-check
// Child process of W5: open a document of a storage root the way the daemon
// does and print how long it took to have its text.
import { Swarmpad } from '../dist/swarmpad.js'

const [home, name] = process.argv.slice(2)
const t0 = performance.now()
const swarmpad = new Swarmpad({ home })
await swarmpad.ready()
const { doc } = await swarmpad.open(name)
const length = doc.text.length
const ms = performance.now() - t0
const from = doc.loadedFrom
await swarmpad.close()
process.stdout.write(JSON.stringify({ ms, length, from }))
