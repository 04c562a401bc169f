import { describe, expect, it } from "vitest"
import { BlockPool, FreeBlockQueue, hashBlock, KvBlock } from "../../src/engine/block-pool.ts"

describe("free block queue", () => {
  it("pops from the head, appends at the tail, prepends at the head and removes from the middle in O(1)", () => {
    const blocks = Array.from({ length: 5 }, (_, i) => new KvBlock(i))
    const q = new FreeBlockQueue(blocks)
    expect(q.ids()).toEqual([0, 1, 2, 3, 4])
    expect(q.popLeft()!.id).toBe(0)
    q.remove(blocks[2])
    expect(q.ids()).toEqual([1, 3, 4])
    q.remove(blocks[4])
    q.remove(blocks[1])
    expect(q.ids()).toEqual([3])
    q.append(blocks[0])
    q.append(blocks[2])
    expect(q.ids()).toEqual([3, 0, 2])
    q.prepend(blocks[4])
    expect(q.ids()).toEqual([4, 3, 0, 2])
    expect(q.popLeft()!.id).toBe(4)
    expect(q.length).toBe(3)
    q.remove(blocks[3]); q.remove(blocks[0]); q.remove(blocks[2])
    expect(q.popLeft()).toBeNull()
    expect(q.length).toBe(0)
  })
})

describe("block pool", () => {
  it("never hands out the null block and reports usage over the usable blocks", () => {
    const pool = new BlockPool(11)
    expect(pool.numFree).toBe(10)
    const got = pool.allocate(10)
    expect(got.map((b) => b.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(pool.usage).toBe(1)
    expect(() => pool.allocate(1)).toThrow(/1 blocks, 0 free/)
    pool.free(got)
    expect(pool.usage).toBe(0)
  })

  it("reuses a freed block with nothing cached first, in the order it was held (freed tail first)", () => {
    const pool = new BlockPool(9)
    const [a, b, c] = pool.allocate(3)
    const [d] = pool.allocate(1)
    pool.cache(d, hashBlock(null, [1], []), null, [1])
    pool.free([d]) // cached: to the tail, kept as long as possible
    pool.free([c, b, a]) // uncached: to the head
    expect(pool.freeQueue.ids()).toEqual([a.id, b.id, c.id, 5, 6, 7, 8, d.id])
    expect(pool.allocate(3)).toEqual([a, b, c])
  })

  it("keeps a freed full block cached until its slot is needed, then evicts it", () => {
    const pool = new BlockPool(3)
    const [a] = pool.allocate(1)
    const h = hashBlock(null, [1, 2], [])
    pool.cache(a, h, null, [1, 2])
    pool.free([a])
    expect(pool.lookup(h, null, [1, 2])).toBe(a)
    pool.allocate(1) // takes block 2, the head of the queue; block 1 stays cached
    expect(pool.lookup(h, null, [1, 2])).toBe(a)
    pool.allocate(1) // now the cached block is the only one left: evicted
    expect(pool.lookup(h, null, [1, 2])).toBeNull()
  })

  it("rejects a hash hit whose stored tokens or parent differ (collision guard)", () => {
    const pool = new BlockPool(4)
    const [a] = pool.allocate(1)
    pool.cache(a, 42, 7, [1, 2])
    expect(pool.lookup(42, 7, [1, 2])).toBe(a)
    expect(pool.lookup(42, 7, [1, 3])).toBeNull()
    expect(pool.lookup(42, 8, [1, 2])).toBeNull()
  })

  it("hashes chain over the parent and extra keys", () => {
    const h0 = hashBlock(null, [1, 2, 3], [])
    expect(hashBlock(null, [1, 2, 3], [])).toBe(h0)
    expect(hashBlock(h0, [1, 2, 3], [])).not.toBe(h0)
    expect(hashBlock(null, [1, 2, 3], ["salt:a"])).not.toBe(hashBlock(null, [1, 2, 3], ["salt:b"]))
    expect(hashBlock(null, [1, 2, 4], [])).not.toBe(h0)
    expect(Number.isSafeInteger(h0)).toBe(true)
  })
})
