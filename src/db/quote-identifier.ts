/** A Postgres identifier in double quotes, so any schema name is taken literally. */
export const quoteIdentifier = (name: string): string => `"${name.replaceAll("\"", "\"\"")}"`
