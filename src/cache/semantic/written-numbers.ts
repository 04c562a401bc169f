/**
 * Numbers written as words ("twenty-five", "two hundred and six", "a dozen", "fifth"), as the values a
 * comparison can set beside digits: "3 apples" and "three apples" agree, "third" and "3rd" agree.
 */
const UNITS: Readonly<Record<string, number>> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18,
  nineteen: 19, twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90,
  dozen: 12, half: 0.5
}
const SCALES: Readonly<Record<string, number>> = { hundred: 100, thousand: 1e3, million: 1e6, billion: 1e9, trillion: 1e12 }
export const ORDINALS: Readonly<Record<string, number>> = {
  first: 1, second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8, ninth: 9, tenth: 10,
  eleventh: 11, twelfth: 12, twentieth: 20, hundredth: 100
}

/** Whether the word can be part of a written cardinal number. */
export const isNumberWord = (w: string): boolean => w in UNITS || w in SCALES

/**
 * The value of a run of number words (lowercase, "and" already removed), e.g. ["two", "hundred", "six"]
 * -> 206, ["a", "dozen"] is read by the caller as ["dozen"].
 */
export const valueOfNumberWords = (words: ReadonlyArray<string>): number => {
  let total = 0, current = 0
  for (const w of words) {
    const unit = UNITS[w]
    if (unit !== undefined) current += unit
    else {
      const scale = SCALES[w]
      current = (current === 0 ? 1 : current) * scale
      if (scale >= 1000) (total += current), (current = 0)
    }
  }
  return total + current
}
