// Generates src/generated/graphql.ts (not checked in) from the schema and every example
// operation: the app's and the kiosk's registered set, and the admin console's examples.
// `strictScalars` makes an unmapped scalar an error, so a new scalar must say here how it
// travels as JSON.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: [
    "../../schema/registered_operations/*.graphql",
    "../operations/**/*.graphql",
  ],
  generates: {
    "src/generated/graphql.ts": {
      plugins: ["typescript", "typescript-operations", "typed-document-node"],
      config: {
        strictScalars: true,
        scalars: {
          // ISO 8601 calendar date: "2026-12-03"
          Date: "string",
          // ISO 8601 date and time with offset, UTC: "2026-12-03T15:54:35+00:00"
          DateTime: "string",
          // A decimal number as a string, never a float: "12.50"
          Decimal: "string",
          // Any JSON value (ECMA-404): narrow it where it is read
          JSON: "unknown",
        },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
  errorsOnly: true,
};

export default config;
