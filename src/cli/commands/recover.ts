import type { Command } from 'commander'
import { Context } from '../context.js'
import { lines, plural, printJson } from '../output.js'
import { formatKey, fromHex } from '../../storage/keys.js'
import type { RecoverResult } from '../../daemon/recover.js'

export function register(program: Command): void {
  program
    .command('recover')
    .description('get every document back from a storage root that was copied to this computer or restored from a backup: the old root is kept aside unchanged, a new one (new device keys) gets the documents; a shared document needs a new invite from an owner, and your edits no peer had are carried into it when you join')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = Context.of(cmd)
      const { recoverRoot } = await import('../../daemon/recover.js')
      const result = await recoverRoot(ctx.home, (line) => ctx.progress(line))
      if (opts.json) return printJson(result)
      await lines(...summary(result))
    })
}

function summary(r: RecoverResult): string[] {
  const rows: string[] = []
  if (r.aside === null) {
    rows.push(`${r.home} opens normally: nothing to recover`)
  } else {
    const back = r.documents.filter((d) => d.status === 'recovered')
    const shared = r.documents.filter((d) => d.status === 'needs-invite')
    const failed = r.documents.filter((d) => d.status === 'failed')
    rows.push(`recovered ${r.home} (${r.reason}): ${plural(back.length, 'document')} back, ${shared.length} shared waiting for an invite, ${failed.length} failed`)
    rows.push(`the old root is kept aside, unchanged: ${r.aside}`)
    for (const d of back) {
      rows.push(`  ${d.name}: back with its text (${plural(d.characters, 'character')}), editable now; new key ${formatKey(fromHex(d.newKey ?? d.oldKey))}${d.fromCheckpoint ? ' (from its last checkpoint: the logs did not open)' : ''}`)
      if (d.sharedWith !== undefined) {
        rows.push(`    it was shared with ${plural(d.sharedWith, 'member')} and this device was its only owner, so nobody can add this device back: it is a new document now; invite them to it (\`swarmpad invite ${d.name}\`)`)
      }
    }
    for (const d of failed) rows.push(`  ${d.name}: NOT recovered (${d.error ?? 'unknown error'}); its data stays in ${r.aside}`)
    for (const m of r.mirrors) rows.push(`  ${m.name} was synced with ${m.path}: run \`swarmpad sync ${m.name} ${m.path}\` again`)
  }
  for (const p of r.pending) {
    rows.push(`  ${p.name}: shared; read its text (${plural(p.characters, 'character')}) in ${p.file}; ask a member for an invite and run \`swarmpad join CODE ${p.name}\`: your edits that no peer had are carried into it`)
  }
  return rows
}
