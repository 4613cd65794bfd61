import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { out, printJson, formatTime, shortKey } from '../output.js'
import { SwarmpadError } from '../../errors.js'
import type { LogLine } from '../../daemon/api.js'

interface LogPage {
  name: string
  total: number
  from: number
  next: number | null
  entries: LogLine[]
}

export function register(program: Command): void {
  program
    .command('log')
    .description("a document's history, one line per update: when, who, how much changed")
    .argument('<name>', 'document name or key')
    .option('-n, --limit <count>', 'only the last COUNT updates')
    .option('--json', 'print the history as JSON')
    .action(async (name: string, opts: { limit?: string; json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      let limit: number | null = null
      if (opts.limit !== undefined) {
        if (!/^[0-9]{1,9}$/.test(opts.limit) || Number(opts.limit) < 1) throw SwarmpadError.usage(`invalid --limit "${opts.limit}": expected a positive whole number`)
        limit = Number(opts.limit)
      }
      const client = await Context.of(cmd).daemon()
      // The first page says how long the history is; then start where --limit says.
      let page = await client.json<LogPage>('GET', '/api/log', { query: { doc: name, limit: 1, from: 0 } })
      const start = limit === null ? 0 : Math.max(0, page.total - limit)
      const entries: LogLine[] = []
      let from: number | null = start
      while (from !== null) {
        page = await client.json<LogPage>('GET', '/api/log', { query: { doc: name, from, limit: 1000 } })
        entries.push(...page.entries)
        if (!opts.json) await out(page.entries.map(formatLine).join(''))
        from = page.next
      }
      if (opts.json) await printJson({ name: page.name, total: page.total, entries })
    })
}

function formatLine(e: LogLine): string {
  const who = (e.name || shortKey(e.key) || `member ${e.member}`) + (e.you ? ' (you)' : '')
  return `${formatTime(e.time)}  ${who}  +${e.inserted} -${e.deleted}\n`
}
