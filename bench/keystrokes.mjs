// @ts-check
// Keystrokes of W2/W7: typing a schedule at its times, and telling when each
// keystroke's text first showed at a receiver (bench/w2-device.mjs, w2-yws.mjs).

const hr = () => process.hrtime.bigint().toString()

/** @param {string} text @param {Array<[number, number, string]>} changes */
export function applyChanges (text, changes) {
  for (const [from, to, insert] of changes) text = text.slice(0, from) + insert + text.slice(to)
  return text
}

/**
 * Type `schedule` ([{ at: ms from the start, changes }]): wait for each
 * patch's time, note it (hrtime, ns as a string), then `patch(i, changes)`.
 * @param {Array<{ at: number, changes: Array<[number, number, string]> }>} schedule
 * @param {(i: number, changes: Array<[number, number, string]>) => void} patch
 * @returns {Promise<string[]>} the time of each patch
 */
export async function playSchedule (schedule, patch) {
  const times = new Array(schedule.length)
  const start = performance.now()
  for (let i = 0; i < schedule.length; i++) {
    const wait = start + schedule[i].at - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    times[i] = hr()
    patch(i, schedule[i].changes)
  }
  return times
}

/**
 * Per keystroke, when a receiver first showed the text after it: `seen` is
 * [time, text] per change it showed, in order; a keystroke counts as arrived
 * at the first change whose text is the text after it or a later one.
 * @param {Array<[string, string]>} seen
 * @param {string} initial
 * @param {Array<Array<[number, number, string]>>} keystrokes
 */
export function matchArrivals (seen, initial, keystrokes) {
  const arrived = new Array(keystrokes.length).fill(null)
  let state = initial
  /** @type {string[]} expected text after keystroke i, computed forward on demand */
  const states = []
  const stateAfter = (/** @type {number} */ i) => {
    while (states.length <= i) states.push((state = applyChanges(state, keystrokes[states.length])))
    return states[i]
  }
  let p = 0 // keystrokes matched so far
  let unmatched = 0
  for (const [t, text] of seen) {
    let i = p
    while (i < keystrokes.length && stateAfter(i) !== text) i++
    if (i === keystrokes.length) { unmatched++; continue }
    for (; p <= i; p++) arrived[p] = t
  }
  return { arrived, unmatched, changes: seen.length }
}
