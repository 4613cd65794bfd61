import type { Command } from 'commander'
import { Context } from '../context.js'
import { lines, printJson, table } from '../output.js'
import type { DocumentSummary } from '../../daemon/api.js'

export function register(program: Command): void {
  program
    .command('ls')
    .alias('list')
    .description('list the documents on this device: name, role, size, members online, sync status')
    .option('--json', 'print the list as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = Context.of(cmd)
      const client = await ctx.daemon()
      const { documents } = await client.json<{ documents: DocumentSummary[] }>('GET', '/api/ls')
      if (opts.json) return printJson({ documents })
      if (documents.length === 0) return lines('no documents yet; create one with `swarmpad new NAME`')
      await lines(
        ...table(
          ['NAME', 'ROLE', 'SIZE', 'MEMBERS', 'ONLINE', 'STATUS'],
          documents.map((d) => [
            d.name,
            d.role,
            d.state === 'failed' ? '-' : `${d.length} chars`,
            d.state === 'failed' ? '-' : String(d.members),
            d.online === null ? '-' : String(d.online),
            statusWord(d)
          ])
        )
      )
    })
}

/// One word or phrase for a document's state: its sync status, or why it is not open.
export function statusWord(d: DocumentSummary): string {
  if (d.state === 'failed') return `not open: ${d.error ?? 'unknown error'}`
  if (d.state === 'needs-upgrade') return 'needs a newer swarmpad'
  if (d.sync !== null) return d.sync.label
  return d.writable ? 'saved on this device' : 'read-only'
}
