import { Ajv2020, type Options } from "ajv/dist/2020.js"
import formats from "ajv-formats"

// ajv-formats is CommonJS: under NodeNext its default import is the module object, whose `default` is the plugin.
const addFormats = (formats as unknown as { default: (ajv: Ajv2020) => Ajv2020 }).default

/** A JSON Schema 2020-12 validator (ajv) with ajv-formats' full-mode formats: the reference guided decoding is checked against. */
export const jsonSchemaValidator = (options: Options = {}): Ajv2020 => addFormats(new Ajv2020({ allErrors: true, ...options }))
