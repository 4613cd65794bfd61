// The guard around Autobase's signature assembly (src/sync/autobase-guard.ts).
//
// Autobase's own ApplyState._assembleMultisig runs against the smallest state
// it reads: one user view with entries past its signed length, and one
// indexer checkpoint that holds the system signature but no signature for
// that view (what the partition-chaos suite met). Unguarded, the method
// throws the TypeError that ended processes; guarded, the round ends quietly
// and leaves the state as it was. Other errors still propagate.
import { describe, expect, test } from 'vitest'
import ApplyState from 'autobase/lib/apply-state.js'
import { guardAutobase, isMissingViewSignature } from '../../src/sync/autobase-guard.js'

interface FakeState {
  interrupted: boolean
  pendingViews: unknown
  dirty: boolean
  systemView: { core: { signedLength: number } }
  encryptionView: null
  views: Array<{ core: { signedLength: number }; ref: object; mappedIndex: number }>
  system: { getIndexedInfo(length: number): Promise<{ views: Array<{ length: number }>; encryptionLength: number }> }
  getViewFromSystem(view: { mappedIndex: number }, sys: { views: Array<{ length: number }> }): { length: number } | null
}

function stateWithUnsignedView(info?: () => Promise<never>): FakeState {
  return {
    interrupted: false,
    pendingViews: null,
    dirty: false,
    systemView: { core: { signedLength: 0 } },
    encryptionView: null,
    views: [{ core: { signedLength: 2 }, ref: {}, mappedIndex: 0 }],
    system: { getIndexedInfo: info ?? (async () => ({ views: [{ length: 5 }], encryptionLength: 0 })) },
    getViewFromSystem: (view, sys) => sys.views[view.mappedIndex] ?? null
  }
}

/// An indexer checkpoint with a system signature and no user view signatures.
const checkpointWithoutViews = [{ signer: 0, signatures: { system: { signature: new Uint8Array(64), length: 7 }, encryption: null, user: [] } }]

describe('Autobase signature-assembly guard', () => {
  test('a checkpoint without the signature of a view to sign ends the round instead of throwing', async () => {
    const original = ApplyState.prototype._assembleMultisig
    const unguarded = stateWithUnsignedView()
    const thrown = await original.call(unguarded, 7, checkpointWithoutViews).then(
      () => null,
      (err: unknown) => err
    )
    expect(thrown).toBeInstanceOf(TypeError)
    expect(isMissingViewSignature(thrown)).toBe(true)

    guardAutobase()
    guardAutobase() // a second call does not wrap twice
    expect(ApplyState.prototype._assembleMultisig).not.toBe(original)
    const guarded = stateWithUnsignedView()
    await expect(ApplyState.prototype._assembleMultisig.call(guarded, 7, checkpointWithoutViews)).resolves.toBeUndefined()
    expect(guarded.pendingViews).toBeNull()
    expect(guarded.dirty).toBe(false)
  })

  test('any other error still propagates', async () => {
    guardAutobase()
    const failing = stateWithUnsignedView(async () => {
      throw new TypeError('storage went away')
    })
    await expect(ApplyState.prototype._assembleMultisig.call(failing, 7, checkpointWithoutViews)).rejects.toThrow('storage went away')
    expect(isMissingViewSignature(new TypeError("Cannot destructure property 'length' of 'x'"))).toBe(false)
  })
})
