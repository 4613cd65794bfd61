// @ts-check
// Child process of W5: open a document from its storage root and print how
// long it took to have its text.
import Corestore from 'corestore'
import { SwarmDocument } from '../dist/sync/document.js'

const [dir, keyHex, encHex] = process.argv.slice(2)
const t0 = performance.now()
const store = new Corestore(dir)
const doc = new SwarmDocument(store.namespace('bench'), { key: Buffer.from(keyHex, 'hex'), encryptionKey: Buffer.from(encHex, 'hex') })
await doc.ready()
const length = doc.text.length
const ms = performance.now() - t0
await doc.close()
await store.close()
process.stdout.write(JSON.stringify({ ms, length }))
