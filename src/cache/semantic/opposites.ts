import { comparableStem } from "./stem.ts"

/**
 * Words whose swap reverses a request ("turn on"/"turn off", "increase"/"decrease", "upload"/"download"):
 * word vectors put such pairs close together (GloVe: cosine(increase, decrease) = 0.88), so they are
 * told apart by name. Each group has its two sides; words are compared by stem (see stem.ts).
 */
const GROUPS: ReadonlyArray<readonly [ReadonlyArray<string>, ReadonlyArray<string>]> = [
  [["on"], ["off"]],
  [["in"], ["out"]],
  [["up"], ["down"]],
  [["enable"], ["disable"]],
  [["increase", "raise", "higher", "boost"], ["decrease", "lower", "reduce"]],
  [["upload"], ["download"]],
  [["import"], ["export"]],
  [["buy", "purchase"], ["sell"]],
  [["before"], ["after"]],
  [["ascending"], ["descending"]],
  [["max", "maximum", "most", "highest"], ["min", "minimum", "least", "lowest"]],
  [["add", "insert"], ["remove", "delete"]],
  [["encrypt"], ["decrypt"]],
  [["lock"], ["unlock"]],
  [["show", "unhide", "reveal"], ["hide", "hidden"]],
  [["pros"], ["cons"]],
  [["advantage", "benefit"], ["disadvantage", "drawback", "downside"]],
  [["hot", "warm", "heat"], ["cold", "cool", "chill"]],
  [["legal"], ["illegal"]],
  [["open"], ["close", "closed", "shut"]],
  [["big", "large", "larger", "largest"], ["small", "smaller", "smallest", "tiny"]],
  [["more"], ["less", "fewer"]],
  [["faster", "quicker"], ["slower"]],
  [["good"], ["bad"]],
  [["cheap", "cheaper", "cheapest"], ["expensive", "pricier"]],
  [["true"], ["false"]],
  [["win", "won"], ["lose", "lost"]],
  [["start", "begin"], ["stop", "end", "finish"]],
  [["first"], ["last"]],
  [["left"], ["right"]],
  [["north", "northern"], ["south", "southern"]],
  [["east", "eastern"], ["west", "western"]],
  [["top"], ["bottom"]],
  [["push"], ["pull"]],
  [["positive"], ["negative"]],
  [["accept", "approve"], ["reject", "decline", "deny"]],
  [["include"], ["exclude"]],
  [["allow", "permit"], ["block", "forbid", "prohibit", "ban"]],
  [["connect"], ["disconnect"]],
  [["install"], ["uninstall"]],
  [["mount"], ["unmount"]],
  [["compress", "zip"], ["decompress", "unzip", "extract"]],
  [["like", "love"], ["dislike", "hate"]],
  [["early", "earlier"], ["late", "later"]],
  [["old", "older"], ["new", "newer", "young", "younger"]],
  [["long", "longer"], ["short", "shorter"]],
  [["easy", "easier"], ["hard", "harder", "difficult"]],
  [["safe", "safer"], ["dangerous", "unsafe"]],
  [["healthy", "healthier"], ["unhealthy"]],
  [["happy"], ["sad", "unhappy"]],
  [["wet"], ["dry"]],
  [["full"], ["empty"]],
  [["above", "over"], ["below", "under"]],
  [["inside", "indoor", "indoors"], ["outside", "outdoor", "outdoors"]],
  [["enter"], ["exit", "leave"]],
  [["arrive", "arrival"], ["depart", "departure"]],
  [["sunrise"], ["sunset"]],
  [["male", "man", "men", "boy"], ["female", "woman", "women", "girl"]],
  [["succeed", "success"], ["fail", "failure"]],
  [["plus"], ["minus"]],
  [["multiply"], ["divide"]],
  [["light"], ["dark"]],
  [["agree"], ["disagree"]],
  [["heavy", "heavier"], ["light", "lighter"]],
  [["wide", "wider"], ["narrow", "narrower"]],
  [["thick", "thicker"], ["thin", "thinner"]],
  [["strong", "stronger"], ["weak", "weaker"]],
  [["rich", "richer"], ["poor", "poorer"]],
  [["tall", "taller", "tallest"], ["short", "shorter", "shortest"]],
  [["fast", "fastest"], ["slow", "slowest"]]
]

/** The groups as stems: [side one, side two]. */
export const OPPOSITES: ReadonlyArray<readonly [ReadonlySet<string>, ReadonlySet<string>]> = GROUPS.map(([one, two]) => [
  new Set(one.map(comparableStem)),
  new Set(two.map(comparableStem))
])

/** Stems that belong to some opposite group (left out of the content-word comparison). */
export const OPPOSITE_STEMS: ReadonlySet<string> = new Set(OPPOSITES.flatMap(([one, two]) => [...one, ...two]))

/**
 * The first group a pair of texts takes opposite sides of (one text has a word of one side and none of
 * the other, the other text the reverse), or undefined.
 */
export const oppositeSides = (a: ReadonlySet<string>, b: ReadonlySet<string>): string | undefined => {
  const has = (stems: ReadonlySet<string>, side: ReadonlySet<string>) => [...side].some((s) => stems.has(s))
  for (const [one, two] of OPPOSITES) {
    const a1 = has(a, one), a2 = has(a, two), b1 = has(b, one), b2 = has(b, two)
    if ((a1 && !a2 && b2 && !b1) || (a2 && !a1 && b1 && !b2)) return `${[...one][0]}/${[...two][0]}`
  }
  return undefined
}
