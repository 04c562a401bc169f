/**
 * The model's vocabulary as the grammar sees it: each token id's bytes (null for special tokens, which
 * are never grammar text), arranged in a byte trie so that the tokens allowed in a grammar state can be
 * found by one walk that drops a whole subtree as soon as the state dies. Built once per tokenizer.
 *
 * The trie's nodes are numbered in depth-first preorder with children in byte order, so the nodes of a
 * subtree are a contiguous range, and so are the tokens ending in it (`tokens[tokenStart[n] ..
 * tokenStart[subtreeEnd[n]])`).
 */
export class TokenVocabulary {
  /** Token ids (and so mask bits) this vocabulary covers: the model's vocab size. */
  readonly size: number
  readonly tokenBytes: ReadonlyArray<Uint8Array | null>
  /** Node 0 is the root (the empty prefix). */
  readonly numNodes: number
  readonly label: Uint8Array
  readonly firstChild: Int32Array
  readonly nextSibling: Int32Array
  /** One past the last node of each node's subtree. */
  readonly subtreeEnd: Int32Array
  /** Where each node's tokens start in `tokens` (numNodes + 1 entries). */
  readonly tokenStart: Int32Array
  /** Token ids by node, in node order. */
  readonly tokens: Int32Array
  /** Bitset words for `size` tokens. */
  readonly words: number

  constructor(size: number, tokenBytes: ReadonlyArray<Uint8Array | null>) {
    this.size = size
    this.tokenBytes = tokenBytes
    this.words = (size + 31) >>> 5
    // A map-based trie first, then flattened in preorder.
    interface Node {
      readonly children: Map<number, Node>
      readonly ids: Array<number>
    }
    const root: Node = { children: new Map(), ids: [] }
    for (let id = 0; id < Math.min(size, tokenBytes.length); id++) {
      const bytes = tokenBytes[id]
      if (bytes === null || bytes.length === 0) continue
      let node = root
      for (const b of bytes) {
        let child = node.children.get(b)
        if (child === undefined) node.children.set(b, (child = { children: new Map(), ids: [] }))
        node = child
      }
      node.ids.push(id)
    }
    const label: Array<number> = [], firstChild: Array<number> = [], nextSibling: Array<number> = [], subtreeEnd: Array<number> = []
    const tokenStart: Array<number> = [], tokens: Array<number> = []
    const visit = (node: Node, byte: number): number => {
      const index = label.length
      label.push(byte)
      firstChild.push(-1)
      nextSibling.push(-1)
      subtreeEnd.push(0)
      tokenStart.push(tokens.length)
      for (const id of node.ids) tokens.push(id)
      let previous = -1
      for (const b of [...node.children.keys()].sort((x, y) => x - y)) {
        const child = visit(node.children.get(b)!, b)
        if (previous < 0) firstChild[index] = child
        else nextSibling[previous] = child
        previous = child
      }
      subtreeEnd[index] = label.length
      return index
    }
    visit(root, 0)
    tokenStart.push(tokens.length)
    this.numNodes = label.length
    this.label = Uint8Array.from(label)
    this.firstChild = Int32Array.from(firstChild)
    this.nextSibling = Int32Array.from(nextSibling)
    this.subtreeEnd = Int32Array.from(subtreeEnd)
    this.tokenStart = Int32Array.from(tokenStart)
    this.tokens = Int32Array.from(tokens)
  }
}
