/**
 * Units of measure and currencies, each spelling mapped to one canonical name: "5 km" and "5
 * kilometres" agree, "5 km" and "5 miles" do not. A unit counts wherever it stands (a conversion names
 * one without a number), and a number directly followed by a unit makes a quantity.
 */
const GROUPS: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["km", ["km", "kms", "kilometer", "kilometers", "kilometre", "kilometres"]],
  ["mile", ["mi", "mile", "miles"]],
  ["m", ["meter", "meters", "metre", "metres"]],
  ["cm", ["cm", "centimeter", "centimeters", "centimetre", "centimetres"]],
  ["mm", ["mm", "millimeter", "millimeters", "millimetre", "millimetres"]],
  ["ft", ["ft", "foot", "feet"]],
  ["inch", ["inch", "inches"]],
  ["yard", ["yd", "yard", "yards"]],
  ["kg", ["kg", "kgs", "kilo", "kilos", "kilogram", "kilograms", "kilogramme", "kilogrammes"]],
  ["g", ["gram", "grams", "gramme", "grammes"]],
  ["mg", ["mg", "milligram", "milligrams"]],
  ["mcg", ["mcg", "µg", "microgram", "micrograms"]],
  ["lb", ["lb", "lbs", "pound", "pounds"]],
  ["oz", ["oz", "ounce", "ounces"]],
  ["ton", ["ton", "tons", "tonne", "tonnes"]],
  ["l", ["liter", "liters", "litre", "litres"]],
  ["ml", ["ml", "milliliter", "milliliters", "millilitre", "millilitres"]],
  ["gallon", ["gal", "gallon", "gallons"]],
  ["cup", ["cup", "cups"]],
  ["tbsp", ["tbsp", "tablespoon", "tablespoons"]],
  ["tsp", ["tsp", "teaspoon", "teaspoons"]],
  ["celsius", ["°c", "celsius", "centigrade"]],
  ["fahrenheit", ["°f", "fahrenheit"]],
  ["kelvin", ["kelvin", "kelvins"]],
  ["second", ["sec", "secs", "second", "seconds"]],
  ["minute", ["min", "mins", "minute", "minutes"]],
  ["hour", ["hr", "hrs", "hour", "hours"]],
  ["day", ["day", "days"]],
  ["week", ["wk", "wks", "week", "weeks"]],
  ["month", ["month", "months"]],
  ["year", ["yr", "yrs", "year", "years"]],
  ["usd", ["$", "usd", "dollar", "dollars", "buck", "bucks"]],
  ["eur", ["€", "eur", "euro", "euros"]],
  ["gbp", ["£", "gbp", "quid", "sterling"]],
  ["jpy", ["¥", "jpy", "yen"]],
  ["cent", ["cent", "cents"]],
  ["percent", ["%", "percent", "percentage"]],
  ["mph", ["mph"]],
  ["kph", ["kph", "km/h", "kmh"]],
  ["byte", ["b", "byte", "bytes"]],
  ["kb", ["kb", "kilobyte", "kilobytes"]],
  ["mb", ["mb", "megabyte", "megabytes"]],
  ["gb", ["gb", "gigabyte", "gigabytes"]],
  ["tb", ["tb", "terabyte", "terabytes"]],
  ["w", ["w", "watt", "watts"]],
  ["kw", ["kw", "kilowatt", "kilowatts"]],
  ["kwh", ["kwh"]],
  ["v", ["v", "volt", "volts"]],
  ["amp", ["amp", "amps", "ampere", "amperes"]],
  ["mah", ["mah"]],
  ["hz", ["hz", "hertz"]],
  ["khz", ["khz"]],
  ["mhz", ["mhz"]],
  ["ghz", ["ghz"]],
  ["kcal", ["kcal", "calorie", "calories"]],
  ["acre", ["acre", "acres"]],
  ["hectare", ["ha", "hectare", "hectares"]],
  ["degree", ["°", "degree", "degrees"]]
]

/**
 * Spellings that are ordinary words too ("m", "g", "a", "b", "w", "v", "ha", "min", "sec", "second"):
 * units only right after a number ("5 g", "2 W"), never alone.
 */
const ONLY_AFTER_A_NUMBER = new Set(["m", "g", "b", "w", "v", "ha", "min", "mins", "sec", "secs", "second", "cup", "cups", "mi", "gal", "yd", "wk", "wks", "hr", "hrs", "yr", "yrs"])

const CANONICAL = new Map<string, string>(GROUPS.flatMap(([name, spellings]) => spellings.map((s) => [s, name] as const)))

/** The canonical unit a token (lowercase) names, or undefined; `afterNumber` admits the ambiguous spellings. */
export const unitOf = (token: string, afterNumber: boolean): string | undefined => {
  const unit = CANONICAL.get(token)
  if (unit === undefined) return undefined
  return afterNumber || !ONLY_AFTER_A_NUMBER.has(token) ? unit : undefined
}

/** Currency symbols stand before their number ("$5"). */
export const CURRENCY_SYMBOLS = new Set(["$", "€", "£", "¥"])
