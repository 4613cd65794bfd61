// @ts-check
// Child process of W3: a fresh device (new storage root, nothing cached)
// joins a document over a Unix socket to the device that holds it and waits
// until its text is the expected one. Prints the time from opening its store
// to having that text, its peak RSS (the whole process: getrusage maxrss),
// and what it received.
//
// Usage: node bench/w3-join.mjs SOCKET DIR KEY_HEX ENCRYPTION_KEY_HEX LENGTH SHA256_HEX
import Corestore from 'corestore'
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { pipeline } from 'node:stream'
import { SwarmDocument } from '../dist/sync/document.js'

const [socketPath, dir, keyHex, encHex, lengthText, sha] = process.argv.slice(2)
const length = Number(lengthText)
const t0 = performance.now()
const store = new Corestore(dir)
const doc = new SwarmDocument(store.namespace('join'), { key: Buffer.from(keyHex, 'hex'), encryptionKey: Buffer.from(encHex, 'hex') })
doc.on('error', (err) => process.stderr.write(`document error: ${err}\n`))
const stream = doc.replicate(true)
const socket = connect(socketPath)
pipeline(stream, socket, stream, () => {})
await doc.ready()
const done = () => doc.text.length === length && createHash('sha256').update(doc.text.toString()).digest('hex') === sha
while (!done()) {
  await new Promise((resolve) => {
    const timer = setTimeout(finish, 1000)
    function finish () { clearTimeout(timer); doc.off('change', finish); resolve(undefined) }
    doc.on('change', finish)
  })
  if (performance.now() - t0 > 120_000) {
    process.stderr.write(`timed out: ${doc.text.length} of ${length} characters, ${doc.updateCount} updates\n`)
    process.exit(1)
  }
}
const ms = performance.now() - t0
const result = { ms, maxRss: process.resourceUsage().maxRSS * 1024, updates: doc.updateCount, snapshots: doc.autobase.view.snapshots.length }
stream.destroy()
socket.destroy()
await doc.close()
await store.close()
process.stdout.write(JSON.stringify(result) + '\n')
