/// Every size and count cap in one place, each with the reason it exists.

/// Largest encoded block we append or accept. Hypercore suggests at most 15 MiB
/// per block; we stay far below so one block never stalls replication of the
/// others and a hostile peer cannot make every device allocate much.
export const MAX_BLOCK_BYTES = 4 * 1024 * 1024

/// Largest Yjs update inside one block. Local edits larger than this are split
/// into several transactions (see MAX_INSERT_CHUNK) so they always fit.
export const MAX_UPDATE_BYTES = MAX_BLOCK_BYTES - 1024

/// Largest piece of inserted text put into one Yjs transaction. A 20 MB paste
/// becomes 20 blocks instead of one block no peer would accept. UTF-8 needs at
/// most 3 bytes per UTF-16 unit, so 1 M units stay below MAX_UPDATE_BYTES.
export const MAX_INSERT_CHUNK = 1024 * 1024

/// Largest number of structs (items, skips, gc) one update may declare. Guards
/// against updates that claim huge counts to make the decoder spin (yjs#479).
export const MAX_UPDATE_STRUCTS = 1_000_000

/// Largest number of delete ranges one update may carry. Same reason, and a
/// delete set is cheap to write and costly to apply: Yjs walks it on every
/// peer. A real edit deletes one range per run of one writer's characters it
/// removes; even deleting a whole maximal document stays far below this.
export const MAX_UPDATE_DELETE_RANGES = 65_536

/// Largest Yjs clock a struct may reach. Real documents stay far below 2^40
/// characters per device; larger clocks only come from crafted updates.
export const MAX_YJS_CLOCK = 2 ** 40

/// Largest document text we hold (UTF-16 units): 64 Mi characters. Local
/// edits past it are refused (TOO_LARGE), and apply() refuses on every peer an
/// update that would make the text of the view longer (see limits-check.ts).
export const MAX_TEXT_LENGTH = 64 * 1024 * 1024

/// A deflated update payload may inflate to at most this many times its own
/// size (or MIN_INFLATE_ALLOWANCE, whichever is more; never past
/// MAX_UPDATE_BYTES). Text deflates by 2-10x; a payload of one repeated byte
/// by ~1000x, which is how a 4 KB block became 4 M characters. Authors send a
/// payload that would inflate more uncompressed.
export const MAX_INFLATE_RATIO = 64
export const MIN_INFLATE_ALLOWANCE = 64 * 1024

/// Per-writer quota windows (deterministic: positions in the writer's own log
/// and in the updates view, never time). A writer's log is cut into runs of
/// this many blocks (seq div QUOTA_WINDOW_BLOCKS).
export const QUOTA_WINDOW_BLOCKS = 1024

/// Within one run of its log and one snapshot interval, a writer's accepted
/// updates may take at most this many bytes of the `updates` view; a larger
/// update past it is refused. More than writing a maximal text (64 Mi units
/// of 3-byte characters: 192 MiB) once in full.
export const QUOTA_WINDOW_BYTES = 256 * 1024 * 1024

/// Updates with a payload of at most this many bytes never count against the
/// byte quota (keystrokes go on), so the snapshot interval always advances.
export const QUOTA_SMALL_UPDATE = 4096

/// A refused block is recorded in `rejections` only while its writer has
/// fewer than this many entries, for blocks of the same run of its log, among
/// the last QUOTA_REJECTIONS_TAIL entries; later refusals leave no entry.
export const QUOTA_REJECTIONS_PER_WINDOW = 16
export const QUOTA_REJECTIONS_TAIL = 256

/// Profile fields: a display name and a CSS colour.
export const MAX_NAME_LENGTH = 64
export const MAX_COLOR_LENGTH = 16

/// Owners are the indexers of a document; Autobase signs with a majority of
/// them, so three gives "survives losing one" without slowing signing.
export const MAX_OWNER_DEVICES = 3

/// Members a document can have. Every member adds a writer core each peer
/// must track; this bounds memory and membership-record size.
export const MAX_MEMBERS = 1000

/// A snapshot of the whole document is written every this many accepted updates,
/// so reopening or joining reads one snapshot plus at most this many updates.
export const SNAPSHOT_INTERVAL = 512

/// Format v2 also writes a snapshot when the update bytes since the newest
/// one reach the larger of this and that snapshot's size: a document typed in
/// bursts (a few large updates) gets snapshots too, and a joiner folds at
/// most about one state's worth of updates after the newest snapshot.
export const SNAPSHOT_MIN_BYTES = 64 * 1024

/// How many past versions a document keeps the changes of, so an edit made
/// against a slightly old version can still be rebased onto the current text.
export const MAX_REBASE_VERSIONS = 2000
