// apply() without Autobase: four in-memory append-only views and a fake host
// with Autobase's writer/indexer rules, for tests that drive createApply()
// directly (test/unit/apply-determinism.test.ts, test/fuzz/linearizer-apply).
import b4a from 'b4a'
import type { HostCalls } from 'autobase'

/// An append-only log with Hypercore's shape (as far as apply() uses it).
export class FakeCore {
  blocks: Buffer[] = []
  get length(): number {
    return this.blocks.length
  }
  get signedLength(): number {
    return 0
  }
  async append(block: Uint8Array | Uint8Array[]): Promise<{ length: number; byteLength: number }> {
    const list = Array.isArray(block) ? block : [block]
    for (const b of list) this.blocks.push(Buffer.from(b))
    return { length: this.blocks.length, byteLength: 0 }
  }
  async get(index: number): Promise<Buffer | null> {
    return this.blocks[index] ?? null
  }
  async has(index: number): Promise<boolean> {
    return index < this.blocks.length
  }
  async truncate(length: number): Promise<void> {
    if (length > this.blocks.length) throw new Error(`truncate(${length}) past length ${this.blocks.length}`)
    this.blocks.length = length
  }
}

export const VIEWS = ['updates', 'snapshots', 'members', 'rejections'] as const
export type FakeView = { [K in (typeof VIEWS)[number]]: FakeCore }

export function newView(): FakeView {
  return { updates: new FakeCore(), snapshots: new FakeCore(), members: new FakeCore(), rejections: new FakeCore() }
}

export const hex = (k: Uint8Array): string => b4a.toString(b4a.from(k), 'hex')

/// Autobase's system as apply() sees it: writers, indexers, interrupts.
export class FakeHost implements HostCalls {
  writers = new Set<string>()
  indexers = new Set<string>()
  interrupts: unknown[] = []
  constructor(creator: Uint8Array) {
    this.writers.add(hex(creator))
    this.indexers.add(hex(creator))
  }
  async addWriter(key: Uint8Array, opts: { indexer?: boolean } = {}): Promise<void> {
    this.writers.add(hex(key))
    if (opts.indexer ?? true) this.indexers.add(hex(key))
    else this.indexers.delete(hex(key))
  }
  async removeWriter(key: Uint8Array): Promise<void> {
    if (!this.removeable(key)) throw new Error('Not allowed to remove the last indexer')
    this.writers.delete(hex(key))
    this.indexers.delete(hex(key))
  }
  async ackWriter(): Promise<void> {}
  interrupt(reason?: unknown): void {
    this.interrupts.push(reason)
  }
  removeable(key: Uint8Array): boolean {
    if (this.indexers.size !== 1) return true
    return !this.indexers.has(hex(key))
  }
  save(): HostState {
    return { writers: new Set(this.writers), indexers: new Set(this.indexers), interrupts: this.interrupts.length }
  }
  restore(s: HostState): void {
    this.writers = new Set(s.writers)
    this.indexers = new Set(s.indexers)
    this.interrupts.length = s.interrupts
  }
}

export interface HostState {
  writers: Set<string>
  indexers: Set<string>
  interrupts: number
}
