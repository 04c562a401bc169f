import * as fs from "node:fs"
import * as path from "node:path"
import { lockDirectory, restoreDirectoryLock } from "../db/data-dir-lock.ts"

/**
 * When lines reach the disk itself: "always" fsyncs before an append resolves (survives a machine crash,
 * costs an fsync on the request path); "interval" (the default) writes before an append resolves — a
 * written line is in the kernel's page cache, so a process killed at any moment (SIGKILL included) loses
 * nothing — and fsyncs in the background within `syncIntervalMs`, so a machine crash can lose at most
 * that window.
 */
export type JournalSync = "always" | "interval"

/**
 * Journaled lines handed over by `rotate`, and the files holding them (one, unless a write failure or a
 * lost directory made the journal continue in another file). Pass it to `remove` once the lines are
 * stored elsewhere.
 */
export interface JournalSegment {
  readonly lines: ReadonlyArray<string>
  readonly files: ReadonlyArray<string>
}

/** What the journal tells its owner, for the log (it has none of its own). */
export type JournalIncident =
  /** The file being written was deleted (the directory with it, say): `rows` journaled lines were rewritten into `file`. */
  | { readonly _tag: "Recreated"; readonly file: string; readonly rows: number }
  /** A write failed (ENOSPC, EIO, a directory that cannot be made): the appends of that write were refused. */
  | { readonly _tag: "WriteFailed"; readonly error: NodeJS.ErrnoException }
  /** Writes succeed again after failures. */
  | { readonly _tag: "Recovered" }

export interface JournalOptions {
  readonly sync?: JournalSync
  readonly syncIntervalMs?: number
  readonly onIncident?: (incident: JournalIncident) => void
  /** What the lock error tells the user to do when another live process holds the directory. */
  readonly lockRemedy?: string
}

/**
 * A write-ahead journal of ledger rows: one JSON line per row, appended before the request's end is
 * acknowledged, so a process killed at any moment loses no row of a request it has answered. A row is
 * encoded once, when appended: the journal keeps and hands over the encoded lines, which are what the
 * database batch is made of (no second encoding of a whole batch on the event loop, and one string a
 * row waits in memory instead of the row's objects).
 *
 * Appends are group-committed: every append made in the same turn of the event loop shares one write (and,
 * with sync "always", one fsync). Lines go into segment files; `rotate` hands over the current segment's
 * lines (all of them durable) and starts a new file, and `remove` deletes a segment once its rows are in
 * the database. At startup, `leftover` reads whatever segments a previous process left. A torn last line
 * (killed mid-write) was never acknowledged, so replay skips it (a line that is not valid JSON).
 *
 * The directory is locked (one process per journal: a second one would replay, store and delete the
 * first's live segments, and a crash of the first would then lose rows). An append is acknowledged only
 * once its line is in a file that is still there: a write that fails (a full disk) refuses the appends
 * it carried, after cutting the file back so no torn line is left in front of the next one; a file
 * deleted under the journal (its directory removed) is noticed after the write, the directory made
 * again, and every line not yet stored elsewhere written again into a new file, so nothing acknowledged
 * lives only in memory. Rows written twice are harmless: the database ignores a row it has (ON CONFLICT).
 */
export class Journal<A> {
  /** The file being appended to; null until one is (re)opened by the next write. */
  private fd: number | null = null
  private file = ""
  /** Bytes of whole lines in `file`: a failed write is cut back to this. */
  private offset = 0
  /** Encoded rows (JSON, no newline) durable in the current segment, and the files holding them. */
  private durable: Array<string> = []
  private files: Array<string> = []
  /** Segments handed over by `rotate` and not removed yet: rewritten too if their files are lost. */
  private readonly handedOver = new Set<JournalSegment>()
  private pending: Array<{ readonly line: string; readonly done: (error?: Error) => void }> = []
  private scheduled = false
  private sequence = 0
  /** The last write failed (a success after it is reported as Recovered). */
  private failing = false
  private readonly dir: string
  private readonly encode: (a: A) => string
  private readonly sync: JournalSync
  private readonly syncIntervalMs: number
  private readonly onIncident: (incident: JournalIncident) => void
  private readonly unlock: () => void
  /** A background fsync is due (sync "interval"); cleared when it ran or the segment was closed. */
  private syncTimer: ReturnType<typeof setTimeout> | null = null
  /** The next segment, opened ahead (see `rotate`). */
  private spare: Spare | undefined

  constructor(dir: string, encode: (a: A) => string, options: JournalOptions = {}) {
    this.dir = dir
    this.encode = encode
    this.sync = options.sync ?? "interval"
    this.syncIntervalMs = options.syncIntervalMs ?? 200
    this.onIncident = options.onIncident ?? ignore
    fs.mkdirSync(dir, { recursive: true })
    this.unlock = lockDirectory(dir, { what: `The ledger journal directory ${dir}`, remedy: options.lockRemedy ?? "stop it or give this process a directory of its own" })
    try {
      this.openFile()
    } catch (e) {
      this.unlock()
      throw e
    }
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
   * The current segment's lines (encoded rows) and files, and a fresh segment for what comes next.
   * Synchronous, so no commit can fall between taking the lines and switching files; the file system
   * work is not: the next segment was opened ahead in libuv's thread pool, and the old one is fsynced
   * (if a background fsync was due) and closed there. Done inline (fsync, close, open, and the unlink in
   * `remove`), a flush held the event loop for 1.4-6.5 ms, median 1.7 (bench/journal-flush.ts), and the
   * request in flight waited for it. Never throws: if no spare is ready, the next write opens a file (and
   * a failure to open one refuses that write's appends, not the flush).
   */
  rotate(): JournalSegment | null {
    if (this.durable.length === 0) return null
    const taken: JournalSegment = { lines: this.durable, files: this.files }
    this.closeFile(true)
    this.durable = []
    this.files = []
    const spare = this.takeSpare()
    if (spare !== undefined) this.useFile(spare.file, spare.fd)
    this.openSpare()
    this.handedOver.add(taken)
    return taken
  }

  /**
   * Deletes a segment's files, whose rows are stored elsewhere now, in the thread pool (an unlink on the
   * event loop took 0.5-5.7 ms there); `done` runs when they are gone. A file that could not be deleted
   * is replayed at the next start, which stores nothing twice.
   */
  remove(segment: JournalSegment, done: () => void = ignore): void {
    this.handedOver.delete(segment)
    removeFiles(segment.files, done)
  }

  /**
   * Segments left in the directory by earlier processes (read once, before this journal's first rotate),
   * and a function deleting them once their rows are stored.
   */
  leftover(): { readonly lines: ReadonlyArray<string>; readonly files: ReadonlyArray<string>; readonly remove: (done: () => void) => void } {
    const own = new Set([...this.files, ...(this.spare === undefined ? [] : [this.spare.file])])
    const found = Journal.replay(this.dir, (file) => !own.has(file))
    return { ...found, remove: (done) => removeFiles(found.files, done) }
  }

  close(): void {
    if (this.fd !== null) {
      this.syncNow()
      fs.closeSync(this.fd)
      this.fd = null
    }
    this.closeSpare()
    if (this.durable.length === 0 && this.pending.length === 0) for (const file of this.files) fs.rmSync(file, { force: true })
    this.unlock()
  }

  /** The lines of the segments in `dir` (those `include` accepts), in the order they were written. */
  static replay(dir: string, include: (file: string) => boolean = () => true): { readonly lines: ReadonlyArray<string>; readonly files: ReadonlyArray<string> } {
    if (!fs.existsSync(dir)) return { lines: [], files: [] }
    const files = fs.readdirSync(dir).filter((f) => f.startsWith("segment-") && f.endsWith(".jsonl")).sort().map((f) => path.join(dir, f)).filter(include)
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
      this.write(Buffer.from(batch.map((p) => p.line + "\n").join("")))
    } catch (e) {
      this.failing = true
      this.onIncident({ _tag: "WriteFailed", error: e as NodeJS.ErrnoException })
      for (const p of batch) p.done(e as Error)
      return
    }
    if (this.failing) {
      this.failing = false
      this.onIncident({ _tag: "Recovered" })
    }
    for (const p of batch) this.durable.push(p.line)
    for (const p of batch) p.done()
  }

  /** Writes whole lines to the current file, durably as `sync` says; throws if it cannot. */
  private write(bytes: Buffer): void {
    if (this.fd === null) this.openNext()
    this.writeAll(bytes)
    // Deleted while in use (checked after the write, so a deletion at any moment before it is seen): the
    // lines went to a file no one can read back. One fstat per group commit.
    if (this.isUnlinked()) {
      this.recover()
      this.writeAll(bytes)
    }
    if (this.sync === "always") fs.fsyncSync(this.fd!)
    else if (this.syncTimer === null) {
      // Off the request path: one fsync for everything written in the interval.
      const fd = this.fd!
      this.syncTimer = setTimeout(() => {
        this.syncTimer = null
        fs.fsync(fd, ignore)
      }, this.syncIntervalMs)
      this.syncTimer.unref()
    }
  }

  /**
   * Appends `bytes` to the current file. A failure part-way (ENOSPC after some bytes) cuts the file back
   * to its last whole line, or, if even that fails, leaves the file (its lines stay in this segment) and
   * makes the next write open another, so a torn line is never followed by a good one.
   */
  private writeAll(bytes: Buffer): void {
    const fd = this.fd!
    let written = 0
    try {
      while (written < bytes.length) written += fs.writeSync(fd, bytes, written)
    } catch (e) {
      if (written > 0) {
        try {
          fs.ftruncateSync(fd, this.offset)
        } catch {
          this.closeFile(false)
        }
      }
      throw e
    }
    this.offset += bytes.length
  }

  private isUnlinked(): boolean {
    try {
      return fs.fstatSync(this.fd!).nlink === 0
    } catch {
      return true
    }
  }

  /**
   * After a rotate found no spare ready, or a failure closed the file: the spare if it is ready now (one
   * still opening is dropped, so names keep the order of writes), else a new file, or a recovery if the
   * directory is gone.
   */
  private openNext(): void {
    const spare = this.takeSpare()
    if (spare !== undefined) return this.useFile(spare.file, spare.fd)
    try {
      this.openFile()
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
      this.recover()
    }
  }

  /**
   * Opens a new file for the current segment, making the directory (and its lock file) again if they are
   * gone. Lines whose files were deleted (the current segment's, and those of segments handed over but
   * not stored yet) are written into it first.
   */
  private recover(): void {
    this.closeFile(false)
    this.dropSpare()
    fs.mkdirSync(this.dir, { recursive: true })
    restoreDirectoryLock(this.dir)
    const lost: Array<string> = []
    for (const segment of this.handedOver) if (segment.files.some(isGone)) lost.push(...segment.lines)
    if (this.files.some(isGone)) lost.push(...this.durable)
    this.openFile()
    if (lost.length > 0) this.writeAll(Buffer.from(lost.join("\n") + "\n"))
    // Said even when nothing had to be rewritten: someone deleted the journal under a running server.
    this.onIncident({ _tag: "Recreated", file: this.file, rows: lost.length })
  }

  private openFile(): void {
    const file = this.segmentName()
    this.useFile(file, fs.openSync(file, "a"))
  }

  private useFile(file: string, fd: number): void {
    this.fd = fd
    this.file = file
    this.offset = 0
    this.files.push(file)
  }

  /** Closes the current file: in the thread pool (after a due fsync) when rotating, else at once. */
  private closeFile(background: boolean): void {
    const fd = this.fd
    if (fd === null) return
    this.fd = null
    const fsyncDue = this.syncTimer !== null
    if (fsyncDue) {
      clearTimeout(this.syncTimer!)
      this.syncTimer = null
    }
    if (background) {
      if (fsyncDue) fs.fsync(fd, () => fs.close(fd, ignore))
      else fs.close(fd, ignore)
      return
    }
    try {
      if (fsyncDue) fs.fsyncSync(fd)
    } catch {
      // A file that cannot be synced (deleted, a failing disk) is being left for another.
    }
    try {
      fs.closeSync(fd)
    } catch {}
  }

  /** Flushes a pending background fsync now (before the segment's file descriptor is closed). */
  private syncNow(): void {
    if (this.syncTimer === null) return
    clearTimeout(this.syncTimer)
    this.syncTimer = null
    fs.fsyncSync(this.fd!)
  }

  private segmentName(): string {
    // Sortable names: time, then this process's pid and a counter, so replay keeps the order of writes
    // (a spare is named when it is opened, after the segment it follows).
    return path.join(this.dir, `segment-${Date.now().toString().padStart(15, "0")}-${process.pid}-${(this.sequence++).toString().padStart(6, "0")}.jsonl`)
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
      else fs.close(fd, () => fs.rm(file, { force: true }, ignore)) // dropped meanwhile
    })
  }

  /**
   * The spare segment if its open has completed. One still opening is dropped (its callback closes and
   * deletes it) and the next write opens one inline, so segments stay in the order of their names.
   */
  private takeSpare(): { readonly file: string; readonly fd: number } | undefined {
    const spare = this.spare
    this.spare = undefined
    return spare?.fd == null ? undefined : { file: spare.file, fd: spare.fd }
  }

  /** Forgets the spare (a file opened inline comes first now, and must sort first): closed and deleted. */
  private dropSpare(): void {
    const spare = this.takeSpare()
    if (spare !== undefined) fs.close(spare.fd, () => fs.rm(spare.file, { force: true }, ignore))
  }

  private closeSpare(): void {
    const spare = this.takeSpare()
    if (spare !== undefined) {
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

const isGone = (file: string): boolean => !fs.existsSync(file)

const removeFiles = (files: ReadonlyArray<string>, done: () => void): void => {
  let left = files.length
  if (left === 0) return done()
  for (const file of files) fs.rm(file, { force: true }, () => --left === 0 && done())
}

const ignore = () => {}
