// Which documents Autobase (7.28.1) may fast-forward.
//
// A fast-forward moves the views to the indexers' signed state without
// applying the blocks before it: the device then holds the last block of
// each view (the fast-forward fetches those) and none of the entries
// between the newest snapshot and the end, which it fetches afterwards. But
// apply() reads exactly those entries (the writer clocks, the quotas and the
// next snapshot are rebuilt from the newest snapshot and the entries after
// it), and Autobase's append() waits for the drain that runs apply(). So a
// device whose peer left between the fast-forward and the end of that fetch
// could not save an edit, its folds and update() waited, and so did every
// later open, until a peer with the blocks came back (issue 16.2;
// test/upstream/sparse-offline.test.ts shows it with Autobase alone).
//
// The gate: a device fast-forwards a document only until it first writes to
// it. A joining device catches up by fast-forwarding (its first block, the
// profile the join writes, is applied only once apply() has those entries,
// so a completed join holds them); from its first block on, the device
// applies what it missed itself, from the writers' logs, so everything
// apply() and the fold read is a block it wrote or fetched before, and no
// edit, fold or open ever waits for a peer. The cost: a device that was away
// while others wrote much catches up at apply()'s pace instead of at once.
//
// Autobase reads the field `fastForwardEnabled` each time it considers a
// fast-forward (and a forced one, its repair path, ignores it); the gate
// makes it a getter.

/// The part of an Autobase the gate reads and replaces.
interface Gated {
  fastForwardEnabled: boolean
  readonly local: { readonly length: number } | null | undefined
}

/// Let `base` fast-forward only while this device has not written a block
/// of its own to the document (and only if it was enabled to begin with).
export function gateFastForward(base: object): void {
  const gated = base as Gated
  // (Another Autobase may not have the field: then nothing is gated, and
  // test/upstream/sparse-offline.test.ts says so.)
  if (typeof gated.fastForwardEnabled !== 'boolean') return
  const enabled = gated.fastForwardEnabled
  Object.defineProperty(base, 'fastForwardEnabled', {
    configurable: true,
    enumerable: true,
    get: () => enabled && mayFastForward(gated.local?.length ?? 0),
    set: () => {}
  })
}

/// Whether a device whose log for the document holds `localLength` blocks
/// may fast-forward it.
export function mayFastForward(localLength: number): boolean {
  return localLength === 0
}
