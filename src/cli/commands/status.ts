import type { Command } from 'commander'
import { Context } from '../context.js'
import { lines, printJson, formatDuration, plural } from '../output.js'
import type { DocumentSummary } from '../../daemon/api.js'
import { statusWord } from './ls.js'

interface StatusResult {
  daemon: { pid: number; port: number; version: string; home: string; started: number; uptime: number }
  network: { bootstrap?: string; bootstrapReachable?: boolean; lan?: boolean; peers?: number; [k: string]: unknown } | null
  documents: DocumentSummary[]
  mirrors: Array<{ doc: string; path: string; active: boolean; problem: string | null }>
  editSessions: number
}

export function register(program: Command): void {
  program
    .command('status')
    .description('the daemon, the network, and the sync status of each open document (does not start the daemon)')
    .option('--json', 'print the status as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = Context.of(cmd)
      const client = await ctx.runningDaemon()
      if (client === null) {
        await (await import('../../storage/recover.js')).assertNotMoved(ctx.home, ctx.paths.cores)
        if (opts.json) return printJson({ running: false, home: ctx.home })
        return lines(`swarmpad is not running (home ${ctx.home}); any command that needs it starts it`)
      }
      const s = await client.json<StatusResult>('GET', '/api/status')
      if (opts.json) return printJson({ running: true, ...s })
      const rows = [
        `daemon:    running, pid ${s.daemon.pid}, http://127.0.0.1:${s.daemon.port}, up ${formatDuration(s.daemon.uptime)}, swarmpad ${s.daemon.version}`,
        `home:      ${s.daemon.home}`,
        `network:   ${networkLine(s.network)}`
      ]
      if (s.documents.length === 0) rows.push('documents: none')
      else {
        rows.push('documents:')
        const width = Math.max(...s.documents.map((d) => d.name.length))
        for (const d of s.documents) rows.push(`  ${d.name.padEnd(width)}  ${statusWord(d)}, ${plural(d.members, 'member')}, version ${d.version}${d.format === 1 ? ', format 1 (also read by older swarmpad)' : ''}`)
      }
      if (s.mirrors.length > 0) {
        rows.push('synced files:')
        for (const m of s.mirrors) rows.push(`  ${m.doc} <-> ${m.path}${m.problem ? `  (${m.problem})` : m.active ? '' : '  (inactive)'}`)
      }
      await lines(...rows)
    })
}

function networkLine(n: StatusResult['network']): string {
  if (n === null) return 'not available in this build (documents stay on this device)'
  const bootstrap = `bootstrap ${n.bootstrap ?? 'public DHT'}${n.bootstrapReachable === false ? ' (no answer at start: this local network only; `swarmpad stop` and start again once online)' : ''}`
  const parts = [bootstrap, `LAN discovery ${n.lan === false ? 'off' : 'on'}`]
  if (typeof n.peers === 'number') parts.push(plural(n.peers, 'peer'))
  return parts.join(', ')
}
