// Key derivations and sealed boxes used by pairing and re-keying.
import Hypercore from 'hypercore'
import type Corestore from 'corestore'
import b4a from 'b4a'
import sodium from 'sodium-universal'
import type { SwarmDocument } from '../sync/document.js'

/// The parts of a Hypercore manifest we read (hypercore's own object).
interface Manifest {
  version: number
  signers: Array<{ publicKey: Uint8Array }>
}

const HypercoreStatics = Hypercore as unknown as { key(manifest: Manifest): Buffer }

/// The writer key a SwarmDocument opened on `store.namespace(namespace)` will
/// write with, computed without creating anything in storage.
///
/// Autobase's local core is the core named 'local' of the namespace: its key
/// pair comes from the Corestore primary key, the namespace and the name, and
/// its key is the hash of a version-1 manifest with that one signer (Corestore
/// `_auth`). A test checks this against a real document's `writerKey`, and
/// join() checks it again once the document is open.
export async function deriveWriterKey(store: Corestore, namespace: string): Promise<Buffer> {
  const session = store.namespace(namespace)
  try {
    const keyPair = await session.createKeyPair('local')
    return HypercoreStatics.key({ version: 1, signers: [{ publicKey: keyPair.publicKey }] })
  } finally {
    await session.close()
  }
}

/// The ed25519 public key that signs the writer core `writerKey` of `doc`,
/// read from the core's manifest (which Hypercore has verified against the
/// key). Null when this device has not received the manifest yet (a writer
/// that never wrote anything) within `waitMs`.
export async function writerPublicKey(doc: SwarmDocument, writerKey: Uint8Array, waitMs = 2000): Promise<Buffer | null> {
  if (b4a.equals(writerKey, doc.writerKey)) {
    const own = doc.autobase.local.keyPair
    return own ? own.publicKey : null
  }
  const core = doc.store.get({ key: writerKey, active: false })
  try {
    await core.ready()
    const read = () => (core as unknown as { manifest: Manifest | null }).manifest
    let manifest = read()
    if (manifest === null && waitMs > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        core.update({ wait: true }).catch(() => false),
        new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))
      ])
      clearTimeout(timer)
      manifest = read()
    }
    if (manifest === null || manifest.signers.length !== 1) return null
    const publicKey = Buffer.from(manifest.signers[0]!.publicKey)
    if (!b4a.equals(HypercoreStatics.key({ version: manifest.version, signers: [{ publicKey }] }), writerKey)) return null
    return publicKey
  } finally {
    await core.close().catch(() => {})
  }
}

/// Seal `message` to the holder of the ed25519 key pair whose public key is
/// `publicKey` (crypto_box_seal to its curve25519 form): only that secret key opens it.
export function sealTo(publicKey: Uint8Array, message: Uint8Array): Uint8Array {
  const curve = b4a.alloc(sodium.crypto_box_PUBLICKEYBYTES)
  sodium.crypto_sign_ed25519_pk_to_curve25519(curve, publicKey)
  const box = b4a.alloc(message.length + sodium.crypto_box_SEALBYTES)
  sodium.crypto_box_seal(box, message, curve)
  return box
}

/// Open a box made by sealTo() with an ed25519 key pair; null when it is not ours.
export function openSealed(box: Uint8Array, keyPair: { publicKey: Uint8Array; secretKey: Uint8Array }): Uint8Array | null {
  if (box.length <= sodium.crypto_box_SEALBYTES) return null
  const pk = b4a.alloc(sodium.crypto_box_PUBLICKEYBYTES)
  const sk = b4a.alloc(sodium.crypto_box_SECRETKEYBYTES)
  try {
    sodium.crypto_sign_ed25519_pk_to_curve25519(pk, keyPair.publicKey)
    sodium.crypto_sign_ed25519_sk_to_curve25519(sk, keyPair.secretKey)
    const out = b4a.alloc(box.length - sodium.crypto_box_SEALBYTES)
    return sodium.crypto_box_seal_open(out, box, pk, sk) ? out : null
  } catch {
    return null
  } finally {
    sodium.sodium_memzero(sk)
  }
}
