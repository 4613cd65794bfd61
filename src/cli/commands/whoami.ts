import type { Command } from 'commander'
import { Context } from '../context.js'
import { lines, printJson, warn } from '../output.js'
import { SwarmpadError } from '../../errors.js'
import { memberColor, memberName } from '../../values.js'

interface WhoamiResult {
  profile: { name: string; color: string } | null
  documents: Array<{ name: string; applied?: boolean; readOnly?: boolean; reason?: string }>
}

export function register(program: Command): void {
  program
    .command('whoami')
    .description('show or set the name and colour other members see for this device')
    .option('--name <name>', 'your display name')
    .option('--color <color>', 'your colour, #rgb or #rrggbb')
    .option('--json', 'print the profile as JSON')
    .action(async (opts: { name?: string; color?: string; json?: boolean }, cmd: Command) => {
      if (opts.name !== undefined) {
        const name = memberName(opts.name)
        if (!name.ok) throw SwarmpadError.usage(`invalid --name "${opts.name}": ${name.problem}`)
      }
      let color = opts.color
      if (color !== undefined) {
        const checked = memberColor(color)
        if (!checked.ok) throw SwarmpadError.usage(`invalid --color "${color}": ${checked.problem}`)
        color = checked.value
      }
      const client = await Context.of(cmd).daemon()
      const setting = opts.name !== undefined || opts.color !== undefined
      const result = setting
        ? await client.json<WhoamiResult>('POST', '/api/whoami', { json: { name: opts.name, color } })
        : await client.json<WhoamiResult>('GET', '/api/whoami')
      if (opts.json) return printJson(result)
      if (result.profile === null) return lines('no name set; set one with `swarmpad whoami --name NAME [--color #rrggbb]`')
      await lines(`name:  ${result.profile.name}`, `color: ${result.profile.color}`)
      if (setting) for (const d of result.documents) if (d.applied === false && d.readOnly !== true) warn(`not shown in ${d.name} yet: ${d.reason}`)
    })
}
