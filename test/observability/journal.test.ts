import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import { Journal, type JournalIncident } from "../../src/ledger/journal.ts"
import { tempDir } from "./support/ledger-database.ts"

const append = (journal: Journal<string>, line: string) =>
  new Promise<void>((resolve, reject) => journal.append(line, (e) => (e ? reject(e) : resolve())))
const segments = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith("segment-")).sort()
const settle = () => new Promise((resolve) => setTimeout(resolve, 50))

describe("ledger journal", () => {
  it("rotates into segments whose names keep the order of writes, each holding its own lines", async () => {
    const dir = tempDir("journal-order")
    const journal = new Journal<string>(dir, (s) => JSON.stringify({ id: s }))
    const taken: Array<ReadonlyArray<string>> = []
    for (let round = 0; round < 4; round++) {
      await Promise.all([append(journal, `r${round}a`), append(journal, `r${round}b`)])
      if (round % 2 === 1) await settle() // the spare segment is ready for some rotations, not for others
      taken.push(journal.rotate()!.lines)
    }
    await append(journal, "last")
    expect(taken).toEqual([0, 1, 2, 3].map((r) => [`{"id":"r${r}a"}`, `{"id":"r${r}b"}`]))
    // A process killed now: replay reads every segment in name order and gets every line in write order.
    await settle()
    const replayed = Journal.replay(dir)
    expect(replayed.lines).toEqual([...taken.flat(), '{"id":"last"}'])
    journal.close()
  })

  it("removes a segment off the event loop and says when it is gone; close leaves no empty segment behind", async () => {
    const dir = tempDir("journal-remove")
    const journal = new Journal<string>(dir, (s) => s)
    await append(journal, "1")
    const first = journal.rotate()!
    expect(first.lines).toEqual(["1"])
    expect(journal.rotate()).toBeNull() // nothing new since
    await new Promise<void>((resolve) => journal.remove(first, resolve))
    expect(first.files.length).toBe(1)
    expect(fs.existsSync(first.files[0])).toBe(false)
    await settle()
    journal.close()
    expect(segments(dir)).toEqual([])
  })

  it("closing while the spare segment is still opening deletes it once it opens", async () => {
    const dir = tempDir("journal-spare")
    const journal = new Journal<string>(dir, (s) => s)
    await append(journal, "1")
    const first = journal.rotate()! // starts opening a spare in the thread pool
    journal.close()
    await settle()
    expect(segments(dir)).toEqual(first.files.map((f) => f.split("/").pop()))
  })

  it("deleted with its directory while in use: made again, and every line not stored yet written again", async () => {
    const dir = tempDir("journal-deleted")
    const incidents: Array<JournalIncident> = []
    const journal = new Journal<string>(dir, (s) => JSON.stringify(s), { onIncident: (i) => incidents.push(i) })
    await Promise.all(["h1", "h2"].map((l) => append(journal, l)))
    const handedOver = journal.rotate()! // taken by the ledger, not stored yet
    await append(journal, "c1")
    // Once the spare segment rotate() started is open: a file appearing while rmSync empties the directory
    // makes its final rmdir fail (ENOTEMPTY), which is the test's race, not the journal's.
    await settle()
    fs.rmSync(dir, { recursive: true, force: true })
    await append(journal, "c2")
    expect(incidents).toEqual([{ _tag: "Recreated", file: expect.stringContaining(dir), rows: 3 }])
    expect(fs.readFileSync(`${dir}/inferline.lock`, "utf8")).toBe(String(process.pid))
    // A process killed now loses nothing: the new file has every line not stored elsewhere.
    expect(Journal.replay(dir).lines.map((l) => JSON.parse(l))).toEqual(["h1", "h2", "c1", "c2"])
    expect(journal.rotate()!.lines).toEqual(['"c1"', '"c2"'])
    await new Promise<void>((resolve) => journal.remove(handedOver, resolve))
    journal.close()
  })

  it("one process per directory: a second journal on it is refused, naming the remedy", () => {
    const dir = tempDir("journal-locked")
    const journal = new Journal<string>(dir, (s) => s, { lockRemedy: "give each instance a directory of its own" })
    expect(() => new Journal<string>(dir, (s) => s)).toThrow(/in use by process \d+ \(this one\)/)
    journal.close()
    // Released on close: the next one may have it.
    new Journal<string>(dir, (s) => s).close()
  })
})
