import * as fs from "node:fs"
import * as path from "node:path"

/**
 * When lines reach the disk itself: "always" fsyncs before an append resolves (survives a machine crash,
 * costs an fsync on the request path); "interval" (the default) writes before an append resolves — a
 * written line is in the kernel's page cache, so a process killed at any moment (SIGKILL included) loses
 * nothing — and fsyncs in the background within `syncIntervalMs`, so a machine crash can lose at most
 * that window.
 */
export type JournalSync = "always" | "interval"

/**
 * A write-ahead journal of ledger rows: one JSON line per row, appended before the request's end is
 * acknowledged, so a process killed at any moment loses no row of a request it has answered. A row is
 * encoded once, when appended: the journal keeps and hands over the encoded lines, which are what the
 * database batch is made of (no second encoding of a whole batch on the event loop, and one string a
 * row waits in memory instead of the row's objects).
 *
 * Appends are group-committed: every append made in the same turn of the event loop shares one write (and,
 * with sync "always", one fsync). Lines go into segment files; `rotate` hands over the current segment's lines (all of them
 * durable) and starts a new file, and `remove` deletes a segment once its rows are in the database. At
 * startup, `replay` reads whatever segments a previous process left. A torn last line (killed mid-write)
 * was never acknowledged, so replay skips it (a line that is not valid JSON).
 */
export class Journal<A> {
  private fd: number
  private file: string
  /** Encoded rows (JSON, no newline) durable in the current segment. */
  private durable: Array<string> = []
  private pending: Array<{ readonly line: string; readonly done: (error?: Error) => void }> = []
  private scheduled = false
  private sequence = 0
  private readonly dir: string
  private readonly encode: (a: A) => string
  private readonly sync: JournalSync
  private readonly syncIntervalMs: number
  /** A background fsync is due (sync "interval"); cleared when it ran or the segment was closed. */
  private syncTimer: ReturnType<typeof setTimeout> | null = null
  /** The next segment, opened ahead (see `rotate`). */
  private spare: Spare | undefined

  constructor(dir: string, encode: (a: A) => string, options: { readonly sync?: JournalSync; readonly syncIntervalMs?: number } = {}) {
    this.dir = dir
    this.encode = encode
    this.sync = options.sync ?? "interval"
    this.syncIntervalMs = options.syncIntervalMs ?? 200
    fs.mkdirSync(dir, { recursive: true })
    ;[this.file, this.fd] = this.openSegment()
  }

  /** Calls `done` once the row's line is written (and fsynced, with sync "always"), with the error if not. */
  append(row: A, done: (error?: Error) => void): void {
    this.pending.push({ line: this.encode(row), done })
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.commitPending)
    }
  }

  private readonly commitPending = () => this.commit()

  /** Lines durable in the current segment (not yet handed over by `rotate`). */
  get size(): number {
    return this.durable.length
  }

  /**
   * The current segment's lines (encoded rows) and file, and a fresh segment for what comes next.
   * Synchronous, so no commit can fall between taking the lines and switching files; the file system
   * work is not: the next segment was opened ahead in libuv's thread pool, and the old one is fsynced
   * (if a background fsync was due) and closed there. Done inline (fsync, close, open, and the unlink in
   * `remove`), a flush held the event loop for 1.4-6.5 ms, median 1.7 (bench/journal-flush.ts), and the
   * request in flight waited for it.
   */
  rotate(): { readonly lines: ReadonlyArray<string>; readonly file: string } | null {
    if (this.durable.length === 0) return null
    const taken = { lines: this.durable, file: this.file }
    const fd = this.fd
    if (this.syncTimer !== null) {
      clearTimeout(this.syncTimer)
      this.syncTimer = null
      fs.fsync(fd, () => fs.close(fd, ignore))
    } else fs.close(fd, ignore)
    this.durable = []
    ;[this.file, this.fd] = this.takeSpare() ?? this.openSegment()
    this.openSpare()
    return taken
  }

  /**
   * Deletes a segment whose rows are stored elsewhere now, in the thread pool (an unlink on the event
   * loop took 0.5-5.7 ms there); `done` runs when it is gone. A segment that could not be deleted is
   * replayed at the next start, which stores nothing twice.
   */
  remove(file: string, done: () => void = ignore): void {
    fs.rm(file, { force: true }, () => done())
  }

  close(): void {
    this.syncNow()
    fs.closeSync(this.fd)
    this.closeSpare()
    if (this.durable.length === 0 && this.pending.length === 0) fs.rmSync(this.file, { force: true })
  }

  /** Segments left by earlier processes, as lines (call before constructing this process's journal). */
  static replay(dir: string): { readonly lines: ReadonlyArray<string>; readonly files: ReadonlyArray<string> } {
    if (!fs.existsSync(dir)) return { lines: [], files: [] }
    const files = fs.readdirSync(dir).filter((f) => f.startsWith("segment-") && f.endsWith(".jsonl")).sort().map((f) => path.join(dir, f))
    const lines: Array<string> = []
    for (const file of files) {
      for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        if (line === "") continue
        try {
          JSON.parse(line)
          lines.push(line)
        } catch {
          // A torn line from a write cut short: its request was never acknowledged.
        }
      }
    }
    return { lines, files }
  }

  private commit(): void {
    this.scheduled = false
    const batch = this.pending
    this.pending = []
    if (batch.length === 0) return
    try {
      fs.writeSync(this.fd, batch.map((p) => p.line + "\n").join(""))
      if (this.sync === "always") fs.fsyncSync(this.fd)
      else if (this.syncTimer === null) {
        // Off the request path: one fsync for everything written in the interval.
        const fd = this.fd
        this.syncTimer = setTimeout(() => {
          this.syncTimer = null
          fs.fsync(fd, () => {})
        }, this.syncIntervalMs)
        this.syncTimer.unref()
      }
    } catch (e) {
      for (const p of batch) p.done(e as Error)
      return
    }
    for (const p of batch) this.durable.push(p.line)
    for (const p of batch) p.done()
  }

  /** Flushes a pending background fsync now (before the segment's file descriptor is closed). */
  private syncNow(): void {
    if (this.syncTimer === null) return
    clearTimeout(this.syncTimer)
    this.syncTimer = null
    fs.fsyncSync(this.fd)
  }

  private segmentName(): string {
    // Sortable names: time, then this process's pid and a counter, so replay keeps the order of writes
    // (a spare is named when it is opened, after the segment it follows).
    return path.join(this.dir, `segment-${Date.now().toString().padStart(15, "0")}-${process.pid}-${(this.sequence++).toString().padStart(6, "0")}.jsonl`)
  }

  private openSegment(): [string, number] {
    const file = this.segmentName()
    return [file, fs.openSync(file, "a")]
  }

  /** Opens the segment after the current one in the thread pool, so `rotate` need not open one inline. */
  private openSpare(): void {
    if (this.spare !== undefined) return
    const file = this.segmentName()
    const spare: Spare = { file, fd: null }
    this.spare = spare
    fs.open(file, "a", (error, fd) => {
      if (error) {
        if (this.spare === spare) this.spare = undefined
      } else if (this.spare === spare) spare.fd = fd
      else fs.close(fd, () => fs.rm(file, { force: true }, ignore)) // closed meanwhile
    })
  }

  /**
   * The spare segment if its open has completed. One still opening is dropped (its callback closes and
   * deletes it) and `rotate` opens one inline, so segments stay in the order of their names.
   */
  private takeSpare(): [string, number] | undefined {
    const spare = this.spare
    this.spare = undefined
    return spare?.fd == null ? undefined : [spare.file, spare.fd]
  }

  private closeSpare(): void {
    const spare = this.spare
    this.spare = undefined
    if (spare?.fd != null) {
      fs.closeSync(spare.fd)
      fs.rmSync(spare.file, { force: true })
    }
  }
}

interface Spare {
  readonly file: string
  /** null until its open completes. */
  fd: number | null
}

const ignore = () => {}
