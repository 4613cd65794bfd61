// The services beside each open document are told in one fixed order: the
// order they attached for opening, the reverse once it closed.
import { describe, expect, it } from 'vitest'
import { Swarmpad, type DocumentService } from '../../src/swarmpad.js'
import { tmpDir } from '../helpers/tmp.js'

describe('document services', () => {
  it('open in attach order, close in reverse; a service attached later hears of what is open; a throwing hook does not stop the others', async () => {
    const sp = new Swarmpad({ home: await tmpDir('swarmpad-services-'), ackInterval: 0 })
    await sp.ready()
    const heard: string[] = []
    const warnings: unknown[] = []
    sp.on('warning', (w) => warnings.push(w))
    const service = (name: string, throws = false): DocumentService => ({
      opening: (d) => heard.push(`${name} opening ${d.entry.name}`),
      opened: (d) => {
        heard.push(`${name} opened ${d.entry.name}`)
        if (throws) throw new Error('hook failed')
      },
      closed: (d) => heard.push(`${name} closed ${d.entry.name}`)
    })
    const detachA = sp.attach(service('a'))
    sp.attach(service('b', true))
    await sp.create('one')
    await sp.closeDocument('one')
    await sp.open('one')
    sp.attach(service('late'))
    detachA()
    await sp.closeDocument('one')
    await sp.close()
    expect(heard).toEqual([
      'a opened one',
      'b opened one',
      'b closed one',
      'a closed one',
      'a opening one',
      'b opening one',
      'a opened one',
      'b opened one',
      'late opened one',
      'late closed one',
      'b closed one'
    ])
    expect(warnings).toHaveLength(2)
  })
})
